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
from ..records import JobEvent

WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"

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


def split_done(job_id: str, parsed: int, commands: list[int], source: dict | None = None) -> JobEvent:
    """``source``: where a load's source reader ended (its position), for the job's result."""
    return event(job_id, "SPLIT_DONE", parsed=parsed, shard_commands=commands,
                 detail=codec.dumps(source) if source else None)


async def emit(bus: Bus, ev: JobEvent, wait: bool = False) -> None:
    """Publish a job event, keyed by its job id; ``wait``: until the broker has it."""
    future = await bus.send_record(ev, key=ev.job_id.encode())
    if wait:
        await future
