"""Job events: the JobStatus records every stage of a job emits on ``job-status``, and how they are built.

Events of one job are keyed by its id, so they share a ``job-status``
partition and the tracker that owns it sees them in order.
"""
from __future__ import annotations

import os
import socket
import time
import uuid
from typing import Any

from .. import codec, redact
from ..kafka.bus import Bus
from ..records import DataStream, JobEvent

WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"

#: the largest request a record keeps (a larger csv_data_load cannot be queued again after its message is lost)
MAX_KEPT_REQUEST = 64 * 1024

IN_PROGRESS, COMPLETE, ERROR = "IN_PROGRESS", "COMPLETE", "ERROR"
FINAL = frozenset({COMPLETE, ERROR})


def now_ms() -> int:
    return int(time.time() * 1000)


def job_id_of_message(topic: str, partition: int, offset: int, timestamp_ms: int) -> str:
    """The job id of an operation produced without one: where it is in the log, and when it was written
    (the embedded broker counts offsets from zero again after a restart)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kafka:{topic}/{partition}/{offset}@{timestamp_ms}"))


def event(job_id: str, kind: str, status: str = IN_PROGRESS, *, message: Any = None, result: Any = None,
          **fields: Any) -> JobEvent:
    """An event of this worker, now. A ``message`` that is an object (Harper's 403 body) travels as JSON text,
    and so does a ``result``. What a job says about its source never says its password (:mod:`pipeline.redact`):
    the job's record, its answers and the worker's local state are folded from these events."""
    is_json = isinstance(message, (dict, list))
    text = codec.dumps(message).decode() if is_json else message
    result_text = codec.dumps(result).decode() if result is not None else None
    return JobEvent(job_id, kind, status, now_ms(), worker=WORKER_NAME,
                    message=redact.text(text) if isinstance(text, str) else text, message_is_json=is_json,
                    result=redact.text(result_text) if result_text else result_text, **fields)


def kept_request(op: dict[str, Any]) -> dict[str, Any]:
    """The ``detail`` of a job's first event: its request as the record keeps it, or why it is not kept.

    Credentials are never kept (S3 keys, a user or password in the URL,
    passthrough headers, which may carry tokens), so a job whose request held
    any cannot be queued again after the broker lost its message; nor is data
    that went beside the request (on ``operation-data``, lost with the same log).
    """
    s3 = op.get("s3")
    if isinstance(s3, dict) and any(s3.get(k) for k in ("aws_access_key_id", "aws_secret_access_key",
                                                         "aws_session_token")):
        return {"not_kept": "its request held S3 credentials, which are never stored"}
    if op.get("passthrough_headers"):
        return {"not_kept": "its request held passthrough_headers, which are never stored"}
    if isinstance(op.get("csv_url"), str) and "@" in op["csv_url"].split("//", 1)[-1].split("/", 1)[0]:
        return {"not_kept": "its URL held credentials, which are never stored"}
    if isinstance(op.get("data"), DataStream):
        return {"not_kept": "its data travelled beside the request, on operation-data"}
    size = len(codec.dumps(op))
    if size > MAX_KEPT_REQUEST:
        return {"not_kept": f"its request ({size} bytes) was larger than the {MAX_KEPT_REQUEST} bytes a job "
                            "record keeps"}
    return {"request": op}


def split_done(job_id: str, parsed: int, commands: list[int], source: dict | None = None) -> JobEvent:
    """``source``: where a load's source reader ended (its position), for the job's result."""
    return event(job_id, "SPLIT_DONE", parsed=parsed, shard_commands=commands,
                 detail=codec.dumps(source) if source else None)


async def emit(bus: Bus, ev: JobEvent, wait: bool = False) -> None:
    """Publish a job event, keyed by its job id; ``wait``: until the broker has it."""
    future = await bus.send_record(ev, key=ev.job_id.encode())
    if wait:
        await future
