"""A worker's replies from the shards: one partition of ``export-results``, routed to the requests waiting for them.

A request (a scan, a synchronous write) sends its commands through
``shard-log`` under an id of its own, naming in each command the partition of
``export-results`` it reads (``reply_partition``); each shard replies there,
keyed by the request's id. So a worker fetches the replies to its own requests,
not every worker's: with N workers an export's rows travel once, not N times.

The partition is chosen by the worker: ``up``'s processes on one machine take
consecutive partitions from a base that the host name picks, so they never
share one while there are as many partitions as processes; workers elsewhere
may land on the same partition. Sharing costs fetches, never correctness: a
reply is handed only to the queue its request opened (by the id in its key),
and the others' replies are passed over (counted in the worker's metrics). The
partition is fixed for the life of the process, and a process ``up`` starts
again has the same index, so the same partition: a request waits through any
rebalance, since the shard that takes its command over replies to the partition
the command names.

A command written before the field existed has none: its shard replies on the
partition of the request id's hash, as it always did (its requester read every
partition).

The partition is read only while a request waits: with none open it is paused,
so the consumer sends no fetches at all. An idle long-poll is what the broker
spends most on: the embedded broker holds each fetch up to its wait and pays
about a millisecond of CPU for each, and this reader's short wait (replies are
on a request's critical path) made it a third of a worker's fetches. Resuming
wakes the fetcher at once, and the position is kept while paused, so a reply is
never missed: it can only come after its request opened.
"""
from __future__ import annotations

import asyncio
import socket
import zlib

from aiokafka import AIOKafkaConsumer, TopicPartition

from ..metrics import Metrics
from ..records import ShardReply
from .bus import Bus
from .consumers import assigned_consumer, stop_reading


def reply_partition(index: int, partitions: int, host: str | None = None) -> int:
    """The partition of ``export-results`` that process ``index`` of a machine reads its replies on."""
    base = zlib.crc32((host if host is not None else socket.gethostname()).encode())
    return (base + index) % partitions


class Replies:
    def __init__(self, bus: Bus, metrics: Metrics, index: int = 0) -> None:
        """``index``: which of ``up``'s processes this is (0 for a worker on its own)."""
        self.bus = bus
        self.metrics = metrics
        self.index = index
        self._queues: dict[str, asyncio.Queue[ShardReply]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None
        self._partition: int | None = None
        self._read: TopicPartition | None = None

    @property
    def partition(self) -> int:
        """Where this worker's requests ask the shards to reply."""
        assert self._partition is not None, "Replies.start() first"
        return self._partition

    async def start(self) -> None:
        partition = reply_partition(self.index, len(await self.bus.partitions(ShardReply.TOPIC)))
        self._consumer, (self._read,) = await assigned_consumer(self.bus, ShardReply.TOPIC, "end", [partition],
                                                                fetch_max_wait_ms=50)
        self._partition = partition
        if not self._queues:
            self._consumer.pause(self._read)
        self._task = asyncio.create_task(self._run(), name="replies")

    async def stop(self) -> None:
        await stop_reading(self._task, self._consumer)

    async def _run(self) -> None:
        assert self._consumer is not None
        async for msg in self._consumer:
            queue = self._queues.get(msg.key.decode()) if msg.key else None
            self.metrics.reply_read(queue is not None)
            if queue is not None:
                queue.put_nowait(ShardReply.decode(msg.value))

    def open(self, request_id: str) -> asyncio.Queue[ShardReply]:
        """The queue the replies to ``request_id`` arrive on, from now on."""
        queue: asyncio.Queue[ShardReply] = asyncio.Queue()
        if not self._queues and self._consumer is not None:
            self._consumer.resume(self._read)
        self._queues[request_id] = queue
        return queue

    def close(self, request_id: str) -> None:
        self._queues.pop(request_id, None)
        if not self._queues and self._consumer is not None:
            self._consumer.pause(self._read)
