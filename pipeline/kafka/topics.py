"""The topics as Kafka sees them: their names under the prefix, partition counts and configs, and their creation.

Defined once in :mod:`pipeline.schemas` (``topics.json``); every worker
creates the missing ones at start and refuses topics whose partition counts
differ from the settings.
"""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from .. import schemas
from ..config import Settings
from ..records import ShardCommand
from .exceptions import TopicMismatch


@dataclass(frozen=True)
class TopicSpec:
    name: str  # logical name
    topic: str  # the Kafka topic: prefix + name
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> dict[str, TopicSpec]:
    specs = {}
    for definition in schemas.definitions():
        partitions = definition["partitions"]
        if isinstance(partitions, str):
            partitions = getattr(settings, partitions)
        specs[definition["name"]] = TopicSpec(definition["name"], settings.topic_prefix + definition["name"],
                                              int(partitions), dict(definition.get("configs", {})))
    return specs


async def create_topics(settings: Settings) -> list[str]:
    """Create the missing topics; check the partition counts of those that exist. Idempotent."""
    specs = topic_specs(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=30000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs.values() if s.topic not in existing]
        created = []
        for spec in missing:
            try:
                await admin.create_topics([NewTopic(spec.topic, spec.partitions, settings.replication_factor,
                                                    topic_configs=spec.configs)])
            except TopicAlreadyExistsError:
                continue  # another worker created it meanwhile
            created.append(spec.topic)
        await _check_partitions(admin, specs)
        if specs["shard-log"].topic in created:
            await _mark_epoch(settings, specs["shard-log"])
        return created
    finally:
        await admin.close()


async def _check_partitions(admin: AIOKafkaAdminClient, specs: dict[str, TopicSpec]) -> None:
    """Faust's co-partitioning and our shard routing depend on these counts: refuse a mismatch."""
    for _ in range(50):
        described = await admin.describe_topics([s.topic for s in specs.values()])
        counts = {d["topic"]: len(d["partitions"]) for d in described}
        if all(counts.get(s.topic) for s in specs.values()):
            break
        await asyncio.sleep(0.1)  # metadata of just-created topics propagates
    for spec in specs.values():
        actual = counts.get(spec.topic, 0)
        if actual != spec.partitions:
            raise TopicMismatch(f"topic {spec.topic!r} has {actual} partitions but {spec.partitions} are configured; "
                                "recreate it or change the partition setting")


async def _mark_epoch(settings: Settings, spec: TopicSpec) -> None:
    """Begin every partition of a new shard-log with an EPOCH command naming this log."""
    epoch = uuid.uuid4().hex.encode()
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for partition in range(spec.partitions):
            await producer.send_and_wait(spec.topic, ShardCommand.epoch(epoch).encode(), key=str(partition).encode(),
                                         partition=partition)
    finally:
        await producer.stop()


def create_topics_sync(settings: Settings) -> list[str]:
    return asyncio.run(create_topics(settings))
