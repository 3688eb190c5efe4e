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

from .. import codec
from ..kafka.bus import Bus

WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"

IN_PROGRESS, COMPLETE, ERROR = "IN_PROGRESS", "COMPLETE", "ERROR"
FINAL = frozenset({COMPLETE, ERROR})


def now_ms() -> int:
    return int(time.time() * 1000)


def job_id_of_message(topic: str, partition: int, offset: int, timestamp_ms: int) -> str:
    """The job id of an operation produced without one: where it is in the log, and when it was written
    (the embedded broker counts offsets from zero again after a restart)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kafka:{topic}/{partition}/{offset}@{timestamp_ms}"))


def event(job_id: str, kind: str, status: str = IN_PROGRESS, **fields: Any) -> dict[str, Any]:
    """A JobStatus record (see topics/job-status.avsc)."""
    record: dict[str, Any] = {
        "job_id": job_id, "event": kind, "status": status, "time": now_ms(), "type": None, "user": None,
        "worker": WORKER_NAME, "shard": None, "seq": None, "parsed": 0, "written": 0, "shard_commands": None,
        "message": None, "message_is_json": False, "result": None, "detail": None,
    }
    message = fields.pop("message", None)
    if isinstance(message, (dict, list)):
        record["message"], record["message_is_json"] = codec.dumps(message).decode(), True
    else:
        record["message"] = message
    result = fields.pop("result", None)
    if result is not None:
        record["result"] = codec.dumps(result).decode()
    record.update(fields)
    return record


def split_done(job_id: str, parsed: int, commands: list[int]) -> dict[str, Any]:
    return event(job_id, "SPLIT_DONE", parsed=parsed, shard_commands=commands)


async def emit(bus: Bus, ev: dict[str, Any], wait: bool = False) -> None:
    """Publish a job event, keyed by its job id; ``wait``: until the broker has it."""
    future = await bus.send_avro("job-status", ev, key=ev["job_id"].encode())
    if wait:
        await future
