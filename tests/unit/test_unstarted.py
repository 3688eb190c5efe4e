"""Which jobs the owner of an ``operations`` partition queues again because it was never handed their message
(pipeline.ops.unstarted): not started, of its partitions, not handed, unchanged for the timeout while it took
every message. The queueing itself runs in real workers (tests/integration/test_processes.py)."""
from __future__ import annotations

import asyncio

from pipeline import codec
from pipeline.jobs.events import event
from pipeline.jobs.fold import fold
from pipeline.jobs.view import JobsView
from pipeline.ops.runner import JobRunner
from pipeline.ops.unstarted import UnstartedJobs

from test_runner import Event, Jobs, Message, settle

TIMEOUT = 30.0


def partition_of(key: bytes) -> int:
    """Jobs named p<partition>-...: on that partition."""
    return int(key.decode().split("-")[0][1:])


EXTRA = {"ERROR": {"status": "ERROR", "message": "it failed"},
         "REQUEUED": {"detail": codec.dumps({"checkpoint": None})}}


def record_of(view: JobsView, job_id: str, *kinds: str) -> None:
    record = view.get(job_id)
    for kind in kinds:
        record, _ = fold(record, event(job_id, kind, type="export_local", **EXTRA.get(kind, {})))
    view.fold(job_id, record)


def test_a_job_not_started_is_overdue_once_unchanged_for_the_timeout_on_a_partition_owned_and_not_handed():
    view = JobsView()
    unstarted = UnstartedJobs(view, TIMEOUT)
    for job_id in ("p0-lost", "p1-elsewhere", "p0-handed", "p0-started", "p0-ended"):
        record_of(view, job_id, "CREATED")
    record_of(view, "p0-started", "STARTED")
    record_of(view, "p0-ended", "ERROR")
    assert unstarted.overdue({0}, partition_of, {"p0-handed"}, 100.0) == []  # its wait starts
    assert unstarted.overdue({0}, partition_of, {"p0-handed"}, 100.0 + TIMEOUT - 1) == []
    overdue = unstarted.overdue({0}, partition_of, {"p0-handed"}, 100.0 + TIMEOUT)
    assert [r["id"] for r in overdue] == ["p0-lost"]


def test_a_change_to_the_record_or_a_reset_starts_the_wait_again():
    view = JobsView()
    unstarted = UnstartedJobs(view, TIMEOUT)
    record_of(view, "p0-job", "CREATED")
    unstarted.overdue({0}, partition_of, set(), 0.0)
    record_of(view, "p0-job", "REQUEUED")  # queued again (by recovery): still not started, but a new wait
    assert unstarted.overdue({0}, partition_of, set(), TIMEOUT) == []
    unstarted.reset()  # a rebalance, or the intake waited for a slot
    assert unstarted.overdue({0}, partition_of, set(), 2 * TIMEOUT - 1) == []
    assert [r["id"] for r in unstarted.overdue({0}, partition_of, set(), 3 * TIMEOUT - 1)] == ["p0-job"]


def test_jobs_already_in_the_view_when_it_starts_are_watched_too():
    view = JobsView()
    record_of(view, "p0-old", "CREATED")
    unstarted = UnstartedJobs(view, TIMEOUT)
    unstarted.overdue({0}, partition_of, set(), 0.0)
    assert [r["id"] for r in unstarted.overdue({0}, partition_of, set(), TIMEOUT)] == ["p0-old"]
    record_of(view, "p0-old", "STARTED")
    assert unstarted.overdue({0}, partition_of, set(), 2 * TIMEOUT) == []


def test_the_runner_notes_what_it_was_handed_and_restarts_every_wait_at_a_rebalance_or_a_pause():
    async def main():
        view, jobs, acked = JobsView(), Jobs(), []
        runner = JobRunner(jobs, 1, UnstartedJobs(view, TIMEOUT))
        runner.assigned({0})
        for job_id in ("p0-first", "p0-second", "p0-lost"):
            record_of(view, job_id, "CREATED")
        runner.unstarted.overdue({0}, partition_of, runner._handed, 0.0)
        await runner.deliver(Event(Message(0, 0, b"p0-first"), acked))
        await runner.deliver(Event(Message(0, 1, b"p0-second"), acked))  # waits for the slot, handed all the same
        await settle()
        runner._set_paused(True)  # operations not fetched: the messages behind wait in Kafka
        await runner.requeue_unhanded(TIMEOUT)
        jobs.release["p0-first"].set()
        await settle()
        assert runner.unstarted.overdue({0}, partition_of, runner._handed, TIMEOUT) == []  # its wait started again
        assert [r["id"] for r in runner.unstarted.overdue({0}, partition_of, runner._handed, 2 * TIMEOUT)] == [
            "p0-lost"]  # the two it was handed are not overdue
        runner.revoked()  # a rebalance begins: no message comes until its assignment, and no check counts
        await runner.requeue_unhanded(3 * TIMEOUT)
        assert runner.unstarted.overdue({0}, partition_of, runner._handed, 3 * TIMEOUT) == []
        runner.assigned({0})
        assert runner._handed == set()
        assert runner.unstarted.overdue({0}, partition_of, runner._handed, 4 * TIMEOUT - 1) == []
        await runner.stop()
    asyncio.run(main())
