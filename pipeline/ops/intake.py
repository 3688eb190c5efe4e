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
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from .. import codec, redact
from ..contract.errors import HarperError
from ..contract.operations import JOB_OPERATIONS
from ..jobs.events import COMPLETE, ERROR, FINAL, emit, event, job_id_of_message, kept_request
from ..jobs.fold import resume_point
from ..jobs.view import JobsView
from ..kafka.bus import Bus
from ..kafka.logview import LogView
from ..records import DataChunks, InvalidReference
from .rowstream import RowStream

log = logging.getLogger(__name__)

Call = Callable[[Any, Any], Awaitable[Any]]
RunJob = Callable[[str, dict, "str | None", bool, "dict | None"], Awaitable[None]]


@dataclass(frozen=True)
class Delivery:
    """One message of ``operations``, as the job it asks for."""

    job_id: str
    user: str | None  # who the API authenticated; None for a body produced to the topic directly
    request: dict


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

    async def identify(self, key: bytes | None, value: bytes, partition: int, offset: int,
                       timestamp: float) -> Delivery | None:
        """What one message of ``operations`` asks for: a Harper body, or our envelope around one.

        A message that is not an operation goes to the dead-letter topic (None).
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
            error = f"operation is not valid JSON: {err}" if isinstance(err, ValueError) else str(err)
        else:
            if not (isinstance(body.get("request"), dict) and "operation" not in body):
                job_id = key_text if _is_uuid(key_text) else job_id_of_message(
                    self.bus.topic("operations"), partition, offset, round(timestamp * 1000))
                return Delivery(job_id, None, body)
            if isinstance(body.get("job_id"), str) and _is_uuid(body["job_id"]):
                op = body["request"] if data is None else {**body["request"], "data": data}
                return Delivery(body["job_id"], body.get("user"), op)
            error = "an envelope's job_id must be a UUID"
        await self._dead_letter(value, key, error, partition, offset)
        if _is_uuid(key_text):  # someone may be waiting for this job: it ends, in ERROR
            await emit(self.bus, event(key_text, "CREATED"))
            await emit(self.bus, event(key_text, "ERROR", ERROR, message=error))
        return None

    async def run(self, delivery: Delivery) -> None:
        """Run the job a message asks for, unless it has ended already; it ends COMPLETE or ERROR.

        A job that is cancelled does not end: the worker its message goes to
        next resumes it (see :mod:`pipeline.ops.runner`).
        """
        job_id, user, op = delivery.job_id, delivery.user, delivery.request
        name = op.get("operation")
        try:
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
                kept = record is not None and ("_request" in record or "_not_kept" in record)
                await emit(self.bus, event(job_id, "STARTED", type=str(name), user=user,
                                           detail=None if kept else codec.dumps(kept_request(op))))
            if name in JOB_OPERATIONS:
                await self.run_job(job_id, op, user, resumed, checkpoint)
                return
            answer = await self.call(op, None)
            if isinstance(answer, RowStream):
                answer = await answer.collect()
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
