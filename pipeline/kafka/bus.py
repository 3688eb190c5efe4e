"""The worker's one Kafka producer, and the topic names behind the logical ones."""
from __future__ import annotations

import asyncio
from typing import Any, Callable

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from ..config import MAX_MESSAGE_BYTES, Settings
from ..records import AvroRecord
from .exceptions import BusStopped


class Bus:
    """Produces to the pipeline's topics (by logical name, e.g. ``"shard-log"``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._stopped = False

    def topic(self, name: str) -> str:
        return self.settings.topic_prefix + name

    async def start(self) -> None:
        self._stopped = False
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.bootstrap_servers,
            acks="all",
            linger_ms=5,
            max_batch_size=1024 * 1024,
            max_request_size=MAX_MESSAGE_BYTES,
            request_timeout_ms=30000,
        )
        await self._producer.start()

    async def stop(self) -> None:
        # gone for new sends at once: what is queued is still delivered while the producer stops
        producer, self._producer, self._stopped = self._producer, None, True
        if producer is not None:
            await producer.stop()

    async def flush(self) -> None:
        """Wait until every message queued so far is delivered."""
        if self._producer is not None:
            await self._producer.flush()

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None and self._stopped:
            raise BusStopped("the worker stopped its producer")
        assert self._producer is not None, "Bus.start() first"
        return self._producer

    async def send(self, name: str, value: bytes | None, key: bytes | None = None,
                   partition: int | None = None, headers: list[tuple[str, bytes]] | None = None) -> asyncio.Future:
        """Queue a message; await the returned future for its delivery."""
        return await self.producer.send(self.topic(name), value=value, key=key, partition=partition,
                                        headers=headers)

    async def send_and_wait(self, name: str, value: bytes | None, key: bytes | None = None,
                            partition: int | None = None) -> Any:
        return await self.producer.send_and_wait(self.topic(name), value=value, key=key, partition=partition)

    async def send_record(self, record: AvroRecord, key: bytes | None = None,
                          partition: int | None = None) -> asyncio.Future:
        """Queue a typed record on its topic; await the returned future for its delivery."""
        return await self.send(record.TOPIC, record.encode(), key=key, partition=partition)

    async def broadcast(self, record: AvroRecord, partitions: int) -> None:
        """Send one record to every partition of its topic, keyed by the partition (a command to every shard)."""
        for partition in range(partitions):
            await self.send_record(record, key=str(partition).encode(), partition=partition)

    async def partitions(self, name: str) -> list[int]:
        return sorted(await self.producer.partitions_for(self.topic(name)))

    async def partition_of(self, name: str) -> Callable[[bytes], int]:
        """Which partition of ``name`` a message with a given key goes to: the producer's default partitioner,
        on the topic's partitions as of now."""
        partitions = await self.partitions(name)
        return lambda key: DefaultPartitioner()(key, partitions, partitions)
