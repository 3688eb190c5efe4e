"""The worker's one Kafka producer, and the topic names behind the logical ones."""
from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from ..config import Settings
from . import topics


class Bus:
    """Produces to the pipeline's topics (by logical name, e.g. ``"shard-log"``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None

    def topic(self, name: str) -> str:
        return self.settings.topic_prefix + name

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.bootstrap_servers,
            acks="all",
            linger_ms=5,
            max_batch_size=1024 * 1024,
            max_request_size=16 * 1024 * 1024,
            request_timeout_ms=30000,
        )
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    @property
    def producer(self) -> AIOKafkaProducer:
        assert self._producer is not None, "Bus.start() first"
        return self._producer

    async def send(self, name: str, value: bytes | None, key: bytes | None = None,
                   partition: int | None = None) -> asyncio.Future:
        """Queue a message; await the returned future for its delivery."""
        return await self.producer.send(self.topic(name), value=value, key=key, partition=partition)

    async def send_and_wait(self, name: str, value: bytes | None, key: bytes | None = None,
                            partition: int | None = None) -> Any:
        return await self.producer.send_and_wait(self.topic(name), value=value, key=key, partition=partition)

    async def send_avro(self, name: str, record: dict, key: bytes | None = None,
                        partition: int | None = None) -> asyncio.Future:
        return await self.send(name, topics.encode(name, record), key=key, partition=partition)

    async def partitions(self, name: str) -> list[int]:
        return sorted(await self.producer.partitions_for(self.topic(name)))


async def stop_reading(task: asyncio.Task | None, consumer: AIOKafkaConsumer | None) -> None:
    """Stop a background reader: cancel its task, then close its consumer."""
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    if consumer is not None:
        await consumer.stop()
