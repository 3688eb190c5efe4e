"""The job runner and what stops a job at once (issues #13 and #19): a job runs once per worker, its message is
acked only once it has ended and in offset order, and it stops at once when it is handed over or its worker stops.

These exercise the pieces on their own, with real threads and files; test_slow_jobs.py, test_resume.py and the
chaos tests (test_scale.py) run them in real workers.
"""
from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from dataclasses import dataclass, field

import pytest

from pipeline.jobs.view import JobsView
from pipeline.ops.intake import Delivery
from pipeline.ops import runner as runner_module
from pipeline.ops.runner import JobRunner
from pipeline.ops.unstarted import UnstartedJobs
from pipeline.query.exceptions import ScanError
from pipeline.query.gather import Spill, collect
from pipeline.records import ShardReply
from pipeline.sources.exceptions import SourceAborted
from pipeline.sources.pipe import Pipe
from pipeline.threads import DaemonExecutor


@dataclass
class Message:
    partition: int
    offset: int
    key: bytes
    value: bytes = b"{}"
    timestamp: float = 0.0


@dataclass
class Event:
    """What the runner uses of a Faust event: its message, and ack()."""

    message: Message
    acked: list = field(default_factory=list)

    def ack(self) -> None:
        self.acked.append((self.message.partition, self.message.offset))


class Jobs:
    """The intake's two steps, for jobs that run until the test lets them end."""

    def __init__(self) -> None:
        self.runs: list[str] = []
        self.release: dict[str, asyncio.Event] = {}
        self.cancelled: list[str] = []

    async def identify(self, key, value, partition, offset, timestamp) -> Delivery:
        return Delivery(key.decode(), None, {"operation": "csv_url_load"})

    async def run(self, delivery: Delivery) -> None:
        self.runs.append(delivery.job_id)
        try:
            await self.release.setdefault(delivery.job_id, asyncio.Event()).wait()
        except asyncio.CancelledError:
            self.cancelled.append(delivery.job_id)
            raise


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_job_delivered_again_while_it_runs_joins_that_run():
    async def main():
        jobs, acked = Jobs(), []
        runner = JobRunner(jobs, 4, UnstartedJobs(JobsView(), 30))
        runner.assigned({0})
        await runner.deliver(Event(Message(0, 0, b"j"), acked))
        runner.assigned({0})  # a rebalance: the uncommitted message comes again
        await runner.deliver(Event(Message(0, 0, b"j"), acked))
        await settle()
        assert jobs.runs == ["j"] and acked == []
        jobs.release["j"].set()
        await settle()
        assert jobs.runs == ["j"] and acked == [(0, 0)]
    asyncio.run(main())


def test_acks_go_in_offset_order_so_a_commit_never_passes_a_job_that_has_not_ended():
    async def main():
        jobs, acked = Jobs(), []
        runner = JobRunner(jobs, 4, UnstartedJobs(JobsView(), 30))
        runner.assigned({0})
        for offset, job in enumerate((b"slow", b"quick", b"other")):
            await runner.deliver(Event(Message(0, offset, job), acked))
        await settle()
        jobs.release["quick"].set()
        jobs.release["other"].set()
        await settle()
        assert acked == []  # done, but behind a job that runs (faust-streaming#606 would commit over it)
        jobs.release["slow"].set()
        await settle()
        assert acked == [(0, 0), (0, 1), (0, 2)]
    asyncio.run(main())


def test_a_job_whose_partition_moves_or_whose_worker_stops_ends_without_an_ack():
    async def main():
        jobs, acked = Jobs(), []
        runner = JobRunner(jobs, 4, UnstartedJobs(JobsView(), 30))
        runner.assigned({0, 1})
        await runner.deliver(Event(Message(0, 0, b"kept"), acked))
        await runner.deliver(Event(Message(1, 0, b"moved"), acked))
        await settle()
        runner.assigned({0, 2})
        await settle()
        assert jobs.cancelled == ["moved"]  # stopped here, resumed where its partition went
        await runner.stop()
        assert sorted(jobs.cancelled) == ["kept", "moved"] and acked == []
    asyncio.run(main())


def test_a_job_waits_for_a_slot_and_runs_only_while_its_partition_is_ours():
    async def main():
        jobs, acked = Jobs(), []
        runner = JobRunner(jobs, 1, UnstartedJobs(JobsView(), 30))
        runner.assigned({0, 1})
        await runner.deliver(Event(Message(0, 0, b"first"), acked))
        await runner.deliver(Event(Message(1, 0, b"second"), acked))  # the intake does not wait for a slot
        await runner.deliver(Event(Message(0, 1, b"third"), acked))
        await settle()
        assert jobs.runs == ["first"]  # every slot is taken: the others wait, in order
        runner.assigned({0})  # meanwhile partition 1 moved; what was not committed comes again
        for offset, job in enumerate((b"first", b"third")):
            await runner.deliver(Event(Message(0, offset, job), acked))
        jobs.release["first"].set()
        await settle()
        assert jobs.runs == ["first", "third"] and acked == [(0, 0)]
        jobs.release["third"].set()
        await settle()
        assert jobs.runs == ["first", "third"] and acked == [(0, 0), (0, 1)]
    asyncio.run(main())


def test_with_every_slot_taken_the_intake_never_waits_and_operations_is_paused_until_half_have_started():
    """Faust fetches every topic in one loop: an intake that waited for a slot held the shard writer's messages
    too, which the jobs in the slots (an export's scans, a load's shards) waited for, for ever."""
    async def main():
        jobs, acked, paused = Jobs(), [], []
        runner = JobRunner(jobs, 1, UnstartedJobs(JobsView(), 30), paused.append)
        runner.assigned({0})
        for offset in range(runner_module.QUEUED_MAX + 1):
            await asyncio.wait_for(runner.deliver(Event(Message(0, offset, b"j%d" % offset), acked)), 1)
        assert paused == [True]  # QUEUED_MAX wait: fetching operations stops
        for offset in range(runner_module.QUEUED_MAX // 2):
            jobs.release.setdefault(f"j{offset}", asyncio.Event()).set()
            await settle()
        assert paused == [True, False] and len(jobs.runs) == runner_module.QUEUED_MAX // 2 + 1
        await runner.stop()
    asyncio.run(main())


def test_a_job_that_could_not_end_is_tried_again_in_its_slot_and_acked_once_it_ends(monkeypatch):
    monkeypatch.setattr(runner_module, "RETRY_FIRST", 0.0)

    class Failing(Jobs):
        """Its first run fails as when not even an ERROR can be sent (the broker unreachable)."""

        async def run(self, delivery: Delivery) -> None:
            if not self.runs:
                self.runs.append(delivery.job_id)
                raise ConnectionError("the broker is unreachable")
            await super().run(delivery)

    async def main():
        jobs, acked = Failing(), []
        runner = JobRunner(jobs, 1, UnstartedJobs(JobsView(), 30))
        runner.assigned({0})
        await runner.deliver(Event(Message(0, 0, b"j"), acked))
        await settle()
        assert jobs.runs == ["j", "j"] and acked == []  # run again without a rebalance, still unacked
        jobs.release["j"].set()
        await settle()
        assert acked == [(0, 0)]
    asyncio.run(main())


def test_an_aborted_pipe_releases_a_reader_waiting_for_bytes():
    pipe, failed = Pipe(), []

    def read():
        try:
            pipe.read(10)
        except SourceAborted as err:
            failed.append(err)

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(0.2)
    assert reader.is_alive()  # waiting for bytes that will not come
    pipe.abort()
    reader.join(5)
    assert not reader.is_alive() and failed


def test_an_aborted_pipe_with_a_full_queue_fails_the_next_read():
    async def fill(pipe):
        for _ in range(2):
            await pipe.feed(b"x")
    pipe = Pipe(depth=2)
    asyncio.run(fill(pipe))
    pipe.abort()  # the queue is full: it must not block
    with pytest.raises(SourceAborted):
        pipe.read(10)


def test_a_closed_spill_stops_its_reader_at_the_next_row(tmp_path):
    spill = Spill(tmp_path / "scan", 1)
    spill.add(0, b"".join(b"%08x\t{\"id\":%d}\n" % (i, i) for i in range(100)))
    rows = spill.rows()
    assert next(rows) == {"id": 0}
    spill.close()  # the export was cancelled while its writer thread reads
    with pytest.raises(ScanError):
        next(rows)


def lines_of(*ids: int) -> bytes:
    return b"".join(b"%08x\t{\"id\":%d}\n" % (i, i) for i in ids)


def test_a_spill_is_read_in_key_order_while_its_shards_still_stream(tmp_path):
    """The reader (an export's writer thread) gets each row as soon as every shard's next key is known, before
    the shards are done; it waits for a shard that has sent nothing yet."""
    spill = Spill(tmp_path / "scan", 2)
    spill.add(0, lines_of(1, 4))
    spill.add(1, lines_of(2))
    rows = spill.lines()
    assert [next(rows), next(rows)] == [b'{"id":1}', b'{"id":2}']  # the next of shard 1 is not known yet
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.extend(rows))
    reader.start()
    spill.add(1, lines_of(3, 10 ** 6))  # a longer key than shard 0's next (its hex has more digits)
    spill.done(1)
    spill.add(0, lines_of(5))
    spill.done(0)
    reader.join(10)
    assert got == [b'{"id":3}', b'{"id":4}', b'{"id":5}', b'{"id":1000000}']


def test_a_shard_streamed_again_while_its_rows_are_read_is_read_once(tmp_path):
    """A partition moved mid-scan: its stream starts again from message 0 after the reader has read part of
    the first; the reader carries on where it was, and no row is read twice or lost."""
    async def main():
        queue: asyncio.Queue = asyncio.Queue()
        spill = Spill(tmp_path / "scan", 1)
        rows = spill.lines()
        for item in (reply(0, "ROWS", 0, lines_of(1, 2), 2), reply(0, "ROWS", 1, lines_of(3), 1)):
            queue.put_nowait(item)
        collecting = asyncio.ensure_future(collect(queue, 1, 5, spill))
        first = await asyncio.wait_for(asyncio.to_thread(lambda: [next(rows) for _ in range(3)]), 5)
        assert first == [b'{"id":1}', b'{"id":2}', b'{"id":3}']
        for item in (reply(0, "ROWS", 0, lines_of(1, 2), 2), reply(0, "ROWS", 1, lines_of(3), 1),
                     reply(0, "ROWS", 2, lines_of(4), 1), reply(0, "DONE", 3, count=4)):
            queue.put_nowait(item)
        assert await collecting == 4
        assert list(rows) == [b'{"id":4}']
    asyncio.run(main())


def test_a_requester_keeps_up_with_a_reader_that_queues_a_whole_fetch_at_a_time(tmp_path):
    """The replies' reader queues a whole fetch in one turn of the event loop; the requester takes every reply
    waiting at each turn, so they never pile up in memory (taken one a turn, 4 came for each one taken)."""
    async def main():
        queue: asyncio.Queue = asyncio.Queue()
        most = 0

        async def reader() -> None:  # 50 fetches of 4 replies each, one fetch a turn
            nonlocal most
            for fetch in range(50):
                for seq in range(fetch * 4, fetch * 4 + 4):
                    queue.put_nowait(reply(0, "ROWS", seq, lines_of(seq + 1), 1))
                most = max(most, queue.qsize())
                await asyncio.sleep(0)
            queue.put_nowait(reply(0, "DONE", 200, count=200))

        reading = asyncio.ensure_future(reader())
        assert await collect(queue, 1, 10, Spill(tmp_path / "scan", 1)) == 200
        await reading
        return most
    assert asyncio.run(main()) <= 16  # a few fetches (wait_for takes turns of its own), not all 200 (183 before)


def test_a_failed_scan_stops_the_reader_waiting_for_its_rows(tmp_path):
    spill = Spill(tmp_path / "scan", 2)
    spill.add(0, lines_of(1))
    failure: list[BaseException] = []

    def read() -> None:
        try:
            list(spill.lines())
        except ScanError as err:
            failure.append(err)
    reader = threading.Thread(target=read)
    reader.start()
    spill.fail("shard 1: it broke")
    reader.join(10)
    assert [str(e) for e in failure] == ["shard 1: it broke"]


def reply(shard: int, kind: str, seq: int, rows: bytes = b"", count: int = 0) -> ShardReply:
    return ShardReply("scan", shard, kind, seq, rows, count)


def test_a_scan_streamed_again_after_its_shard_is_done_is_ignored(tmp_path):
    """A shard's scan run again by a new owner after the first stream ended (its owner had not committed past
    it) must not reopen the shard: the owner that streamed it first may skip it if the shard comes back."""
    async def main():
        queue = asyncio.Queue()
        for item in (reply(0, "ROWS", 0, b"01\t{\"id\":1}\n", 1), reply(0, "DONE", 1, count=1),
                     reply(0, "ROWS", 0, b"01\t{\"id\":1}\n", 1),  # the second stream, cut by a kill
                     reply(1, "ROWS", 0, b"02\t{\"id\":2}\n", 1), reply(1, "DONE", 1, count=1)):
            queue.put_nowait(item)
        spill = Spill(tmp_path / "scan", 2)
        assert await collect(queue, 2, 5, spill) == 2
        assert list(spill.rows()) == [{"id": 1}, {"id": 2}]
    asyncio.run(main())


def test_a_scan_streamed_again_before_its_shard_is_done_starts_the_shard_again(tmp_path):
    async def main():
        queue = asyncio.Queue()
        first, second = b"01\t{\"id\":1}\n", b"02\t{\"id\":2}\n"
        for item in (reply(0, "ROWS", 0, first, 1),  # the old owner, killed after its first message
                     reply(0, "ROWS", 0, first, 1), reply(0, "ROWS", 1, second, 1), reply(0, "DONE", 2, count=2)):
            queue.put_nowait(item)
        spill = Spill(tmp_path / "scan", 1)
        assert await collect(queue, 1, 5, spill) == 2
        assert list(spill.rows()) == [{"id": 1}, {"id": 2}]
    asyncio.run(main())


def test_the_worker_threads_run_calls_and_a_stuck_one_does_not_hold_the_exit():
    async def main():
        loop = asyncio.get_running_loop()
        loop.set_default_executor(DaemonExecutor(max_workers=2))
        assert await asyncio.gather(*(asyncio.to_thread(pow, 2, n) for n in range(10))) == [2 ** n for n in range(10)]
        with pytest.raises(ZeroDivisionError):
            await loop.run_in_executor(None, divmod, 1, 0)
    asyncio.run(main())

    # as the worker ends (mode closes its loop, which shuts the executor down without waiting)
    stuck = subprocess.run([sys.executable, "-c", (
        "import asyncio, threading\n"
        "from pipeline.threads import DaemonExecutor\n"
        "loop = asyncio.new_event_loop()\n"
        "loop.set_default_executor(DaemonExecutor())\n"
        "loop.run_in_executor(None, threading.Event().wait)  # held for ever\n"
        "loop.run_until_complete(asyncio.sleep(0.1))\n"
        "loop.close()\n")], timeout=30)
    assert stuck.returncode == 0


def test_a_job_that_outlives_the_stop_wait_ends_quietly_once_the_producer_is_gone(monkeypatch, caplog):
    """A worker stops its producer once the runner has waited STOP_WAIT for its jobs: a job still ending then
    (here its cleanup outlasts the wait, then sends an event, as an ending job does) is neither failed (no ERROR
    logged, no ERROR event) nor tried again nor acked: the worker that gets its partition resumes it."""
    from pipeline import config
    from pipeline.jobs.events import emit, event
    from pipeline.kafka.bus import Bus

    monkeypatch.setattr(runner_module, "STOP_WAIT", 0.05)
    bus, stopped = Bus(config.load()), asyncio.Event()

    class OutlivesTheStop(Jobs):
        async def run(self, delivery: Delivery) -> None:
            self.runs.append(delivery.job_id)
            try:
                try:
                    await asyncio.Event().wait()
                finally:
                    await stopped.wait()  # a cleanup that outlasts the runner's wait
                    await emit(bus, event(delivery.job_id, "SPLIT_PROGRESS"))
            except Exception:
                runner_module.log.error("job failed")  # what the operations do with a job's failure
                raise

    async def main():
        jobs, acked = OutlivesTheStop(), []
        runner = JobRunner(jobs, 1, UnstartedJobs(JobsView(), 30))
        runner.assigned({0})
        await runner.deliver(Event(Message(0, 0, b"j"), acked))
        await settle()
        [running] = [r.task for r in runner._running.values()]
        await runner.stop()  # the job does not stop within the wait
        await bus.stop()
        stopped.set()
        await asyncio.wait_for(asyncio.gather(running, return_exceptions=True), 5)
        assert running.cancelled() and jobs.runs == ["j"] and acked == []

    with caplog.at_level("INFO"):
        asyncio.run(main())
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    assert "jobs did not stop in time" in caplog.text
