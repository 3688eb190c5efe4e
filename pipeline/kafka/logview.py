"""A compacted topic folded into memory in every worker (the catalog, the jobs).

Each worker reads every partition of the topic from the beginning with its
own group-less consumer, so any worker can answer from it. A write goes to
the topic (acks=all) and is folded locally at once, so the worker that made
it reads its own write; the copy that comes back from the topic is folded
again, which the fold functions make harmless.

"Folded everything written before now" is measured against the end the
broker answers to ListOffsets, pinned to a fetch's high watermark
(:class:`LogEnd`): the embedded broker answers ListOffsets short of a batch
of several records.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from .. import codec
from .bus import Bus
from .consumers import assigned_consumer, stop_reading
from .localstate import LocalState

log = logging.getLogger(__name__)

Fold = Callable[[str, Any], None]


class LogEnd:
    """Whether a reader has read a log up to where it ended at some moment, from the ends ListOffsets answered.

    Tansu 0.6 answers ListOffsets(latest) with the last batch's *base* offset + 1, not its last offset + 1
    (a batch of five records at 0-4: 1), while its fetch responses carry the right high watermark
    (tests/integration/test_log_ends.py). So a partition counts as read once the position is at the
    answer AND at the high watermark of a fetch that delivered the answer's offset - 1: that fetch was
    answered after the whole batch was in the log. The watermark is pinned the first time the position
    reaches the answer, so records written since are waited for once, not chased. On a real Kafka the
    answer is the end already; the watermark adds at most the records written since the answer.
    """

    def __init__(self, ends: dict[TopicPartition, int]) -> None:
        #: partition -> (offset to reach, whether it is the pinned watermark)
        self._left = {tp: (end, False) for tp, end in ends.items() if end > 0}

    def reached(self, positions: dict[TopicPartition, int], highwater: dict[TopicPartition, int | None]) -> bool:
        """``positions`` and ``highwater``: the reader's, taken together after a fetch's records were read."""
        for tp, (end, pinned) in list(self._left.items()):
            if positions[tp] < end:
                continue
            if not pinned:
                end = max(end, highwater.get(tp) or 0)
                self._left[tp] = (end, True)
                if positions[tp] < end:
                    continue
            del self._left[tp]
        return not self._left


class LogView:
    def __init__(self, bus: Bus, name: str, fold: Fold, state: LocalState | None = None) -> None:
        self.bus = bus
        self.name = name
        self._apply = fold
        self._state = state
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()
        self._changed = asyncio.Condition()
        self._parts: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}
        self._highwater: dict[TopicPartition, int | None] = {}
        #: records written back from the data directory at start: the broker had lost its log
        self.republished = 0

    async def start(self) -> None:
        self._consumer, parts = await assigned_consumer(self.bus, self.name, "beginning", fetch_max_wait_ms=100)
        self._parts = parts
        ends = await self._consumer.end_offsets(parts)
        self._positions = {tp: 0 for tp in parts}
        if self._state is not None and not any(ends.values()):
            self.republished = await self._republish()
            if self.republished:
                ends = await self._consumer.end_offsets(parts)  # ready once the copy has come back
        self._task = asyncio.create_task(self._run(ends), name=f"logview-{self.name}")
        self._task.add_done_callback(self._stopped)

    def _stopped(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("stopped following a topic: this worker's view of it is frozen", exc_info=task.exception(),
                      extra={"topic": self.name})

    def _fold(self, key: str, value: Any) -> None:
        self._apply(key, value)
        if self._state is not None:
            self._state.put(self.name, key, value)

    async def _republish(self) -> int:
        """An empty topic and a local copy: the broker lost its log (the embedded one forgets); write it back."""
        count = 0
        for key, value in list(self._state.items(self.name)):
            await self.bus.send(self.name, codec.dumps(value), key=key.encode())
            count += 1
        await self.bus.producer.flush()
        if count:
            log.info("republished from the data directory", extra={"topic": self.name, "records": count})
        return count

    async def stop(self) -> None:
        await stop_reading(self._task, self._consumer)

    async def ready(self) -> None:
        """Wait until everything that was in the topic at start has been folded."""
        await self._ready.wait()

    async def _run(self, ends: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        start = LogEnd(ends)
        if start.reached(self._positions, self._highwater):
            self._ready.set()
        while True:
            batches = await self._consumer.getmany(timeout_ms=500, max_records=2000)
            for messages in batches.values():
                for msg in messages:
                    value = codec.loads(msg.value) if msg.value is not None else None
                    self._fold(msg.key.decode(), value)
            # the consumer's position, not the last record's offset + 1: a log may hold offsets that
            # deliver no record (seen with Tansu after a producer was killed mid-request)
            positions = {tp: await self._consumer.position(tp) for tp in self._parts}
            if batches or positions != self._positions:
                self._positions = positions
                self._highwater = {tp: self._consumer.highwater(tp) for tp in self._parts}
                await self._notify()
            if not self._ready.is_set() and start.reached(self._positions, self._highwater):
                self._ready.set()
            await asyncio.sleep(0)  # a large backlog is folded in chunks: the worker's other tasks run between

    async def catch_up(self, timeout: float = 30.0) -> None:
        """Wait until everything written to the topic before now has been folded here.

        A worker calls this before it acts on what another worker may have just
        written (a table created through another worker's API).
        """
        assert self._consumer is not None
        end = LogEnd(await self._consumer.end_offsets(self._parts))
        await self.wait_for(lambda: end.reached(self._positions, self._highwater), timeout)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def put(self, key: str, value: Any, wait: bool = True) -> None:
        """Write a record (None: a tombstone) and fold it here; ``wait``: once the broker has it."""
        await self.put_many([(key, value)], wait)

    async def put_many(self, records: list[tuple[str, Any]], wait: bool = True) -> None:
        """Write records in order, waiting once for the broker to have them all, and fold them here.

        One round trip for any number of records: a file with 20,000 new columns registers them
        in a second, where a wait per record took minutes.
        """
        deliveries = [await self.bus.send(self.name, codec.dumps(value) if value is not None else None,
                                          key=key.encode()) for key, value in records]
        if wait:
            await asyncio.gather(*deliveries)
        for key, value in records:
            self._fold(key, value)
        await self._notify()

    async def wait_for(self, check: Callable[[], Any], timeout: float | None = None) -> Any:
        """Wait until ``check()`` returns something truthy; return it."""
        async def waiter() -> Any:
            async with self._changed:
                while True:
                    found = check()
                    if found:
                        return found
                    await self._changed.wait()
        return await asyncio.wait_for(waiter(), timeout)
