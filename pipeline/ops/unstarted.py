"""Jobs accepted but never started whose message no worker is going to be handed: queued again by the owner.

A submitted job's record says CREATED before its message is on ``operations``
(so a ``get_job`` right after the answer finds it), and the worker that owns
the message's partition starts it. The runner commits a message only once its
job has ended (:mod:`pipeline.ops.runner`), but if the message is skipped all
the same (seen once: an export sent as a second worker process joined the
group kept only its CREATED event for twenty minutes, until a new broker's
recovery queued it again), nothing would ever start the job.

So the owner of each partition watches the jobs of its partitions that have
not started (a record with no worker, not ended: CREATED, or REQUEUED before
any worker took it). One that stays so, unchanged, for
``PIPELINE_JOB_START_TIMEOUT`` seconds while this worker owned its partition,
took every message (no wait for a job slot: a message behind a full worker
waits in Kafka, not lost) and was not handed its message, is queued again
(REQUEUED, then its message), or ended in ERROR if its request was not kept.

Queued again beside a message that does come after all, nothing runs twice:
both are keyed by the job id, so they share the partition, and the second
delivery joins the running job or finds it ended (:mod:`pipeline.ops.intake`).
"""
from __future__ import annotations

from typing import Any, Callable, Collection

from ..jobs.events import FINAL
from ..jobs.recovery import Lost
from ..jobs.view import JobsView

NOT_HANDED = Lost("no worker was handed this job's message", "before it started (no worker was handed its message)")


def unstarted(record: dict[str, Any]) -> bool:
    """Not ended, and no worker has taken it (STARTED, RESUMED and a shard's report name one)."""
    return record.get("status") not in FINAL and not record.get("_workers")


class UnstartedJobs:
    """The jobs no worker has started, kept from the jobs view's changes, and how long each has waited unchanged
    since this worker last had reason to expect it (it owned the partition and took every message)."""

    def __init__(self, jobs: JobsView, timeout: float) -> None:
        self.jobs = jobs
        self.timeout = timeout
        #: job id -> the partition of its message, once known (murmur2 in Python: some 40 us a key)
        self._waiting: dict[str, int | None] = {
            job_id: None for job_id, record in jobs.records.items() if unstarted(record)}
        #: job id -> (the record's version, when this worker began to expect it)
        self._since: dict[str, tuple[int, float]] = {}
        jobs.watch(self._changed)

    def _changed(self, job_id: str) -> None:
        record = self.jobs.get(job_id)
        if record is not None and unstarted(record):
            self._waiting.setdefault(job_id, None)
        else:
            self._waiting.pop(job_id, None)
            self._since.pop(job_id, None)

    def reset(self) -> None:
        """Every job's wait starts again: a rebalance, or the intake waited for a job slot."""
        self._since.clear()

    def overdue(self, owned: Collection[int], partition_of: Callable[[bytes], int], handed: Collection[str],
                now: float) -> list[dict[str, Any]]:
        """The records of the jobs of ``owned`` partitions, not ``handed`` to this worker, that have waited
        unchanged for the timeout."""
        found = []
        for job_id, partition in list(self._waiting.items()):
            if partition is None:
                partition = self._waiting[job_id] = partition_of(job_id.encode())
            record = self.jobs.get(job_id)
            if record is None or job_id in handed or partition not in owned:
                self._since.pop(job_id, None)
                continue
            version, since = self._since.setdefault(job_id, (record.get("_v", 0), now))
            if version != record.get("_v", 0):
                self._since[job_id] = (record.get("_v", 0), now)
            elif now - since >= self.timeout:
                found.append(record)
        return found
