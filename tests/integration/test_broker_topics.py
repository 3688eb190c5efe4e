"""The embedded broker and the topic definitions, on a real broker."""
from __future__ import annotations

import asyncio
import dataclasses
import socket

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from pipeline.kafka import topics
from pipeline.kafka.broker import EmbeddedBroker
from pipeline.records import JobEvent, ShardCommand, ShardReply


def partition_counts(settings) -> dict[str, int]:
    async def describe() -> dict[str, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        await admin.start()
        try:
            names = [s.topic for s in topics.topic_specs(settings).values()]
            return {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(names)}
        finally:
            await admin.close()
    return asyncio.run(describe())


def test_topics_are_created_once_with_their_partitions(settings):
    created = topics.create_topics_sync(settings)
    specs = topics.topic_specs(settings)
    assert sorted(created) == sorted(s.topic for s in specs.values())
    assert partition_counts(settings) == {s.topic: s.partitions for s in specs.values()}
    assert specs["shard-log"].partitions == settings.shard_partitions
    assert topics.create_topics_sync(settings) == []  # idempotent


def test_a_partition_count_mismatch_is_refused(settings):
    async def precreate() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(settings.topic_prefix + "shard-log", 1, 1)])
        finally:
            await admin.close()
    asyncio.run(precreate())
    with pytest.raises(topics.TopicMismatch, match="shard-log' has 1 partitions but 4"):
        topics.create_topics_sync(settings)


@pytest.mark.parametrize("kind, record", [
    (JobEvent, {"job_id": "j", "event": "SPLIT_DONE", "status": "IN_PROGRESS", "time": 1, "parsed": 3,
                "shard_commands": [1, 2]}),
    (ShardCommand, {"kind": "WRITE_BATCH", "job_id": "j", "database": "dev", "table": "dog", "payload": b"[]"}),
    (ShardReply, {"job_id": "j", "shard": 2, "kind": "DONE", "seq": 4, "rows": b"", "count": 9}),
])
def test_avro_round_trip(kind, record):
    decoded = dataclasses.asdict(kind.decode(kind(**record).encode()))
    assert {k: decoded[k] for k in record} == record


def test_the_embedded_broker_stops(tmp_path):
    broker = EmbeddedBroker(log_dir=tmp_path).start()
    port = broker.port
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    broker.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_a_taken_port_is_refused(broker, tmp_path):
    with pytest.raises(RuntimeError, match="taken"):
        EmbeddedBroker(port=broker.port, log_dir=tmp_path).start()
