"""``GET /metrics``: the worker's registry in Prometheus' text format, with the gauges read at scrape time.

The shards' lag needs ``shard-log``'s end offsets, which only the broker
knows: they are fetched (asynchronously, with one group-less consumer kept for
the purpose) just before the registry is rendered. A broker that does not
answer in time leaves the last figures known; the scrape itself never fails
for it.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable, Iterable

from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.exposition import choose_encoder

from ..kafka.consumers import assigned_consumer
from ..metrics.gauges import WorkerCollector, WorkerState
from ..runtime import Worker
from ..shard.store import Store

log = logging.getLogger(__name__)

#: seconds a scrape waits for the broker's end offsets
END_OFFSETS_TIMEOUT = 2.0


def applied_offset(store: Store | None) -> int:
    """A shard's applied offset; -1 for a shard assigned but not yet opened (nothing of it applied here)."""
    return -1 if store is None else store.offset


class Scrape:
    def __init__(self, worker: Worker, assigned_shards: Callable[[], Iterable[int]],
                 ready: Callable[[], bool]) -> None:
        self.worker = worker
        self.assigned_shards = assigned_shards
        self._ends: dict[int, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._parts: list[TopicPartition] = []
        self._lock = asyncio.Lock()
        stores = worker.stores
        worker.metrics.registry.register(WorkerCollector(worker.metrics.worker, WorkerState(
            applied_offsets=lambda: {s: applied_offset(stores.opened.get(s)) for s in self.assigned_shards()},
            end_offsets=lambda: self._ends,
            job_records=lambda: worker.jobs.records.values(),
            rocksdb_memory=stores.memory,
            ready=ready)))

    async def handle(self, request: web.Request) -> web.Response:
        await self._refresh_ends()
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))  # text, or OpenMetrics if asked
        return web.Response(body=encode(self.worker.metrics.registry), headers={"Content-Type": content_type})

    async def _refresh_ends(self) -> None:
        async with self._lock:
            try:
                if self._consumer is None:
                    self._consumer, self._parts = await asyncio.wait_for(
                        assigned_consumer(self.worker.bus, "shard-log", "end"), END_OFFSETS_TIMEOUT)
                ends = await asyncio.wait_for(self._consumer.end_offsets(self._parts), END_OFFSETS_TIMEOUT)
            except Exception as err:  # noqa: BLE001 - a timeout or aiokafka's errors: the scrape answers anyway
                log.debug("shard-log end offsets unavailable for the scrape", extra={"error": repr(err)})
                return
            self._ends = {tp.partition: end for tp, end in ends.items()}

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
