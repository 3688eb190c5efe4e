"""The jobs of ``operations``, run beside the intake agent rather than inside its loop.

The intake agent hands each message to the runner and goes on to the next
one, so a job that waits thirty seconds on a slow server holds one of the
worker's job slots (``PIPELINE_JOBS_PER_WORKER``), not the jobs behind it on
its partition.

The agent never waits for a slot either: a message that finds every slot
taken waits here, in arrival order, and beyond :data:`QUEUED_MAX` of them the
worker stops fetching ``operations`` (pause, as Kafka Connect does) until half
have started. Faust fetches every topic of the worker in one loop, which
waits when an agent's buffer is full: an intake waiting for a slot held the
shard writer's and the tracker's messages too, and the jobs in the slots, an
export waiting for its scans or a load for its shards, waited on those for
ever. Every job queued behind them on the worker's partitions kept only its
CREATED event (reproduced: one slot, a few hundred jobs sent across joins).

Offsets. A message is acked only once its job has ended, and acks are given
to Faust in offset order per partition: Faust commits the highest run of
consecutive acked offsets, and also commits over a single unacked offset at
the head of that run (faust-streaming#606), so a job acked out of order could
see its offset committed while it still runs, and a worker that died then
would leave it IN_PROGRESS for good. In offset order, a partition's committed
offset never passes a job that has not ended: whoever is given the partition
next is delivered the message again and resumes the job from its checkpoint.

Rebalances. Faust does not wait for running jobs at a rebalance (an export
waits on the shards' scans, which wait on the rebalance; see
:mod:`pipeline.app`), and delivers every uncommitted message of the worker's
partitions again after it. A job runs at most once per worker: a message of a
job still running here joins that job (it is acked when the job ends) — issue
#19: an export delivered again to the worker still running it ran a second
time beside the first, both spilling to ``tmp/<job id>``, and one read the
other's half-written row. A job whose partition went to another worker is
cancelled here, without a final event and with its message unacked, and
resumed there; so is every job of a worker that stops.

Messages never handed. A job of this worker's partitions that no worker has
started, whose message this worker was not handed although it took every
message for a while, is queued again (:mod:`pipeline.ops.unstarted`).
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from ..jobs.recovery import requeue
from .intake import Delivery, Intake
from .unstarted import NOT_HANDED, UnstartedJobs

log = logging.getLogger(__name__)

#: seconds a stopping worker waits for its cancelled jobs to let go (a stop must take seconds, not minutes)
STOP_WAIT = 3.0
#: seconds before a job that could not be run or ended (not even its ERROR sent) is tried again, doubling
RETRY_FIRST = 1.0
RETRY_MAX = 30.0
#: messages waiting for a slot at which this worker stops fetching ``operations``; it fetches again at half
QUEUED_MAX = 64


@dataclass
class _Running:
    partition: int
    #: (partition, offset) of every delivery of the job's message since the last rebalance
    offsets: list[tuple[int, int]]
    task: asyncio.Task | None = None


@dataclass
class _Pending:
    event: Any  # faust.EventT
    done: bool = False


class JobRunner:
    def __init__(self, intake: Intake, slots: int, unstarted: UnstartedJobs,
                 pause: Callable[[bool], None] = lambda paused: None) -> None:
        """``pause(True)``: stop fetching this worker's ``operations`` partitions; ``pause(False)``: fetch again."""
        self.intake = intake
        self.unstarted = unstarted
        self._pause = pause
        self._free = slots
        #: (delivery, partition, offset) of the messages waiting for a slot, in arrival order
        self._queue: deque[tuple[Delivery, int, int]] = deque()
        #: operations is not fetched: its next messages wait in Kafka
        self._paused = False
        self._stopping = False
        #: the jobs of the messages handed to this worker since the last rebalance
        self._handed: set[str] = set()
        #: rebalances so far
        self._generation = 0
        #: between a rebalance's revocation and its assignment: no message is delivered
        self._rebalancing = False
        self._running: dict[str, _Running] = {}
        #: per partition, offset -> a delivered message not acked yet
        self._pending: dict[int, dict[int, _Pending]] = {}
        #: the operations partitions this worker owns; None before the first assignment
        self._owned: set[int] | None = None

    async def deliver(self, event: Any) -> None:
        """Take one message of ``operations``: start its job (once a slot is free), or join the same job already
        running here."""
        message = event.message
        partition, offset = message.partition, message.offset
        self._pending.setdefault(partition, {})[offset] = _Pending(event)
        try:
            delivery = await self.intake.identify(message.key, message.value, partition, offset, message.timestamp)
        except Exception:  # noqa: BLE001 - e.g. the dead-letter topic could not be written: left unacked
            log.exception("a message of operations could not be taken; it is delivered again after a rebalance",
                          extra={"partition": partition, "offset": offset})
            return
        if delivery is None:
            self._done(partition, offset)
            return
        self._handed.add(delivery.job_id)
        if self._join(delivery.job_id, partition, offset):
            return
        self._queue.append((delivery, partition, offset))
        self._start_queued()
        if len(self._queue) >= QUEUED_MAX and not self._paused:
            log.info("every job slot is taken and many messages wait: operations is not fetched for now",
                     extra={"waiting": len(self._queue)})
            self._set_paused(True)

    def _start_queued(self) -> None:
        """Start the messages waiting, in order, while slots are free."""
        while self._free and self._queue and not self._stopping:
            delivery, partition, offset = self._queue.popleft()
            if self._owned is not None and partition not in self._owned or self._join(delivery.job_id, partition,
                                                                                     offset):
                continue  # while it waited, its partition moved (it is delivered there), or the job started
            self._free -= 1
            running = self._running[delivery.job_id] = _Running(partition, [(partition, offset)])
            running.task = asyncio.create_task(self._run(delivery, running), name=f"job-{delivery.job_id}")
        if self._paused and len(self._queue) <= QUEUED_MAX // 2 and not self._rebalancing:
            self._set_paused(False)

    def _set_paused(self, paused: bool) -> None:
        self._paused = paused
        self.unstarted.reset()  # messages waited in Kafka, or did until now
        self._pause(paused)

    def _join(self, job_id: str, partition: int, offset: int) -> bool:
        """A message delivered again while its job runs here joins the job: it is acked when the job ends."""
        running = self._running.get(job_id)
        if running is not None:
            log.info("a job running in this worker was delivered again; it is not run twice",
                     extra={"job_id": job_id, "partition": partition, "offset": offset})
            running.offsets.append((partition, offset))
        return running is not None

    async def _run(self, delivery: Delivery, running: _Running) -> None:
        """Run a job until it has ended. One that could not even send its ERROR (the broker unreachable) is
        tried again here, in its slot, while its partition is this worker's: its message, unacked, would
        otherwise be delivered again only at the next rebalance, and the job would wait for it."""
        ended, delay = False, RETRY_FIRST
        try:
            while not ended:
                try:
                    await self.intake.run(delivery)
                    ended = True
                except Exception as err:  # noqa: BLE001
                    if self._stopping:  # not tried again here: the worker that gets its partition resumes it
                        log.info("a job could not end while its worker stopped; it resumes elsewhere",
                                 extra={"job_id": delivery.job_id, "error": repr(err)})
                        break
                    log.exception("a job could not be run or ended; it is tried again",
                                  extra={"job_id": delivery.job_id, "retry_in_s": delay})
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX)
        finally:
            self._free += 1
            self._running.pop(delivery.job_id, None)
            if ended:
                for partition, offset in running.offsets:
                    self._done(partition, offset)
            self._start_queued()

    def _done(self, partition: int, offset: int) -> None:
        """Mark a message handled; ack, in offset order, every handled message up to the first one that is not."""
        pending = self._pending.get(partition, {})
        if offset in pending:
            pending[offset].done = True
        while pending and pending[head := min(pending)].done:
            pending.pop(head).event.ack()

    def assigned(self, partitions: set[int]) -> None:
        """A rebalance gave this worker ``partitions`` of ``operations``; their uncommitted messages come again."""
        self._owned = partitions
        self._generation += 1
        self._rebalancing = False
        self._pending.clear()
        self._queue.clear()  # they come again
        self._paused = False  # Faust fetches every assigned partition after a rebalance
        self._handed.clear()
        self.unstarted.reset()
        for job_id, running in self._running.items():
            running.offsets.clear()
            if running.partition not in partitions and running.task is not None:
                log.info("a job's partition moved to another worker: it stops here and resumes there",
                         extra={"job_id": job_id, "partition": running.partition})
                running.task.cancel()

    def revoked(self) -> None:
        """A rebalance began: no message is delivered until its assignment."""
        self._rebalancing = True

    async def requeue_unhanded(self, now: float) -> None:
        """Queue again the jobs of this worker's partitions that it has waited for, unchanged, for too long while
        it took every message, and was never handed (see :mod:`pipeline.ops.unstarted`)."""
        if self._owned is None or self._paused or self._rebalancing:
            self.unstarted.reset()
            return
        intake = self.intake
        try:
            partition_of = await intake.bus.partition_of("operations")
            overdue = self.unstarted.overdue(self._owned, partition_of, self._handed, now)
            if not overdue:
                return
            generation = self._generation
            await intake.jobs_log.catch_up()  # the job may have been started or ended a moment ago
            for record in overdue:
                job_id = record["id"]
                current = intake.jobs.get(job_id)
                if (generation != self._generation or self._rebalancing or job_id in self._handed
                        or current is None or current.get("_v") != record.get("_v")):
                    continue
                log.warning("a job of this worker's partitions was never handed to it: it is queued again",
                            extra={"job_id": job_id, "partition": partition_of(job_id.encode()),
                                   "waited_s": self.unstarted.timeout})
                await requeue(intake.bus, intake.jobs_log, current, NOT_HANDED)
        except Exception:  # noqa: BLE001 - e.g. the broker unreachable: the next check tries again
            log.exception("jobs never handed to this worker could not be queued again")

    async def stop(self) -> None:
        """Cancel the running jobs (they are resumed by the next owners of their partitions)."""
        self._stopping = True
        tasks = [r.task for r in self._running.values() if r.task is not None and not r.task.done()]
        if not tasks:
            return
        log.info("stopping the jobs running here; the workers that get their partitions resume them",
                 extra={"jobs": ",".join(self._running)})
        for task in tasks:
            task.cancel()
        _, pending = await asyncio.wait(tasks, timeout=STOP_WAIT)
        if pending:
            log.warning("jobs did not stop in time", extra={"jobs": len(pending), "timeout": STOP_WAIT})
