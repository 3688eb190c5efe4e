"""The ``operations`` topic's intake: each message is a job, whoever produced it.

A message is our envelope (``{"job_id", "user", "request"}``, produced by
the API or the CLI) or a bare Harper operation body produced by anyone with
write access to the topic. Bulk operations run as jobs here; any other
operation is answered and its answer becomes the job's result, so its
outcome can be read with ``get_job`` too. A message that is not JSON goes to
the dead-letter topic, with what went wrong in its headers.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any, Awaitable, Callable

from .. import codec, redact
from ..contract.errors import HarperError
from ..contract.operations import JOB_OPERATIONS
from ..jobs.events import COMPLETE, ERROR, FINAL, emit, event, job_id_of_message
from ..jobs.view import JobsView
from ..kafka.bus import Bus
from ..kafka.logview import LogView
from ..records import DataChunks, InvalidReference
from .loads import resume_point

log = logging.getLogger(__name__)

Call = Callable[[Any, Any], Awaitable[Any]]
RunJob = Callable[[str, dict, "str | None", bool, "dict | None"], Awaitable[None]]


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


class Intake:
    def __init__(self, bus: Bus, jobs: JobsView, jobs_log: LogView, call: Call, run_job: RunJob) -> None:
        """``call``: answers an operation (:meth:`Operations.call`); ``run_job``: runs a bulk one."""
        self.bus = bus
        self.jobs = jobs
        self.jobs_log = jobs_log
        self.call = call
        self.run_job = run_job

    async def handle(self, key: bytes | None, value: bytes, partition: int, offset: int, timestamp: float) -> None:
        """One message of ``operations``: a Harper body, or our envelope around one.

        A body produced without a job id as its key gets one derived from the
        message (:func:`pipeline.jobs.events.job_id_of_message`), so the message
        delivered again is the same job, not a second one.
        """
        key_text = key.decode(errors="replace") if key else ""
        try:
            body = codec.loads(value)
            if not isinstance(body, dict):
                raise ValueError("an operation must be a JSON object")
            # an envelope of a csv_data_load whose data went ahead as chunks
            data = DataChunks.of(body["data"]) if "data" in body and "operation" not in body else None
        except (ValueError, InvalidReference) as err:
            why = f"operation is not valid JSON: {err}" if isinstance(err, ValueError) else str(err)
            await self._dead_letter(value, key, why, partition, offset)
            if _is_uuid(key_text):
                await emit(self.bus, event(key_text, "ERROR", ERROR, message=why))
            return
        if isinstance(body.get("request"), dict) and "operation" not in body:
            job_id, user, op = body["job_id"], body.get("user"), body["request"]
            if data is not None:
                op = {**op, "data": data}
        else:
            job_id = key_text if _is_uuid(key_text) else job_id_of_message(
                self.bus.topic("operations"), partition, offset, round(timestamp * 1000))
            user, op = None, body
        name = op.get("operation")
        await self.jobs_log.catch_up()
        record = self.jobs.get(job_id)
        if record is not None and record["status"] in FINAL:
            log.info("a finished job was delivered again; it is not run again", extra={"job_id": job_id})
            return
        checkpoint, resumed = None, bool(record and record.get("_workers"))
        if resumed:
            # a worker started this job and stopped (or lost the partition): carry on from its last checkpoint
            checkpoint = record.get("_resume")
            await emit(self.bus, event(job_id, "RESUMED", parsed=checkpoint["parsed"] if checkpoint else 0,
                                       message=f"resuming {resume_point(checkpoint)}",
                                       detail=codec.dumps({"previous_workers": record["_workers"],
                                                           "checkpoint": checkpoint})))
        else:
            await emit(self.bus, event(job_id, "STARTED", type=str(name), user=user))
        try:
            if name in JOB_OPERATIONS:
                await self.run_job(job_id, op, user, resumed, checkpoint)
                return
            answer = await self.call(op, None)
        except HarperError as err:
            await emit(self.bus, event(job_id, "ERROR", ERROR, message=err.message))
            return
        except Exception as err:  # noqa: BLE001 - the worker must survive any one operation
            log.exception("operation failed", extra={"job_id": job_id, "operation": name})
            await emit(self.bus, event(job_id, "ERROR", ERROR, message=f"{name} failed: {err}"))
            return
        message = answer.get("message") if isinstance(answer, dict) and len(answer) == 1 else None
        await emit(self.bus, event(job_id, "COMPLETE", COMPLETE, message=message,
                                   result=None if message is not None else answer))

    async def _dead_letter(self, value: bytes, key: bytes | None, error: str, partition: int, offset: int) -> None:
        """The original bytes, with what went wrong in headers (as Kafka Connect does).

        The one change: credentials (S3 keys, URL passwords) are masked, since the
        dead-letter topic is read by more people than ``operations``; a header says so.
        """
        headers = [("error", redact.text(error).encode()), ("source.topic", self.bus.topic("operations").encode()),
                   ("source.partition", str(partition).encode()), ("source.offset", str(offset).encode())]
        value, masked = redact.message_bytes(value)
        if masked:
            headers.append(("redacted", ", ".join(masked).encode()))
        await self.bus.producer.send_and_wait(self.bus.topic("operations-dlq"), value=value, key=key, headers=headers)
        log.warning("operation sent to the dead-letter topic", extra={"partition": partition, "offset": offset,
                                                                       "error": error})
