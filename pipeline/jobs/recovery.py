"""Jobs whose message the broker lost: queued again from their records, or ended, when a worker starts.

With a broker that keeps its log, a job whose worker dies is delivered again
to the next owner of its ``operations`` partition (its offset is committed only
once it has ended, see :mod:`pipeline.ops.runner`), which resumes it. The
embedded broker keeps its log in memory: after a restart a job that had not
ended has no message any more, and nothing would ever run it. The worker that
finds the broker empty writes its copy of the compacted views back
(:class:`pipeline.kafka.logview.LogView`); then every job of that copy that had
not ended is

- queued again (REQUEUED, then its message) from the request its record
  keeps, to carry on from the latest checkpoint whose commands every shard had
  applied: what was sent after it may have been lost with the log;
- or ended in ERROR saying why it cannot be (its request held credentials,
  which are never stored, or was too large to keep).

The owner of an ``operations`` partition queues again the same way a job it
was never handed (:mod:`pipeline.ops.unstarted`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .. import codec
from ..contract.answers import cannot_requeue
from ..kafka.bus import Bus
from ..kafka.logview import LogView
from ..records import JobEvent
from .events import ERROR, FINAL, emit, event
from .fold import fold, resume_point, safe_checkpoint
from .view import JobsView

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lost:
    """What became of a job's message, as its events say it."""

    #: the REQUEUED event's message begins with it
    cause: str
    #: the ERROR's message when it cannot be queued again: "<operation> was interrupted <interrupted> ..."
    interrupted: str


BROKER_LOST = Lost("the broker lost this job's message when it restarted", "when the broker restarted")


async def recover(bus: Bus, jobs: JobsView, jobs_log: LogView) -> int:
    """Queue again, or end, every job the broker lost (none unless ``jobs_log`` had to be written back).
    Returns how many jobs it found."""
    if not jobs_log.republished:
        return 0
    lost = [record for record in list(jobs.records.values()) if record["status"] not in FINAL]
    for record in lost:
        if await requeue(bus, jobs_log, record, BROKER_LOST):
            log.info("queued again a job the broker lost", extra={"job_id": record["id"], "type": record.get("type")})
        else:
            log.warning("a job the broker lost cannot be queued again", extra={"job_id": record["id"]})
    return len(lost)


async def requeue(bus: Bus, jobs_log: LogView, record: dict[str, Any], lost: Lost) -> bool:
    """Queue a job again from its record (True), or end it in ERROR if its request was not kept (False)."""
    job_id = record["id"]
    if "_request" not in record:
        reason = record.get("_not_kept") or "its request was not kept"
        await _record(bus, jobs_log, record, event(job_id, "ERROR", ERROR, message=cannot_requeue(
            record.get("type"), lost.interrupted, reason)))
        return False
    checkpoint = safe_checkpoint(record)
    await _record(bus, jobs_log, record, event(
        job_id, "REQUEUED", parsed=checkpoint["parsed"] if checkpoint else 0,
        message=f"{lost.cause}; queued again to carry on {resume_point(checkpoint)}",
        detail=codec.dumps({"checkpoint": checkpoint})))
    # the record holds the checkpoint before the message exists, so whoever runs the job starts from there
    envelope = {"job_id": job_id, "user": record.get("user"), "request": record["_request"]}
    await bus.send_and_wait("operations", codec.dumps(envelope), key=job_id.encode())
    return True


async def _record(bus: Bus, jobs_log: LogView, record: dict[str, Any], ev: JobEvent) -> None:
    """Send the event, and put the record it makes at once (as a submit does), ahead of the tracker."""
    await emit(bus, ev, wait=True)
    folded, _ = fold(record, ev)
    await jobs_log.put(ev.job_id, folded)
