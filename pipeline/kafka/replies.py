"""Every worker's tail of ``export-results``: the shards' replies, routed to the requests waiting for them.

A request (a scan, a synchronous write) sends its commands through
``shard-log`` under an id of its own; each shard replies on
``export-results`` keyed by that id. Every worker reads every partition from
the end as of its start, and hands a reply to the queue its request opened;
replies to other workers' requests are passed over.
"""
from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer

from ..records import ShardReply
from .bus import Bus
from .consumers import assigned_consumer, stop_reading


class Replies:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._queues: dict[str, asyncio.Queue[ShardReply]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._consumer, _ = await assigned_consumer(self.bus, ShardReply.TOPIC, "end", fetch_max_wait_ms=50)
        self._task = asyncio.create_task(self._run(), name="replies")

    async def stop(self) -> None:
        await stop_reading(self._task, self._consumer)

    async def _run(self) -> None:
        assert self._consumer is not None
        async for msg in self._consumer:
            queue = self._queues.get(msg.key.decode()) if msg.key else None
            if queue is not None:
                queue.put_nowait(ShardReply.decode(msg.value))

    def open(self, request_id: str) -> asyncio.Queue[ShardReply]:
        """The queue the replies to ``request_id`` arrive on, from now on."""
        queue: asyncio.Queue[ShardReply] = asyncio.Queue()
        self._queues[request_id] = queue
        return queue

    def close(self, request_id: str) -> None:
        self._queues.pop(request_id, None)
