"""The one way this project reads a topic outside Faust's consumer group.

Some readers must see every partition of a topic, whoever owns it: the views
of the compacted topics (every worker folds all of ``catalog``, ``auth`` and
``jobs``), the replies to a worker's requests, a shard's log replayed by its
new owner, the CLI following a job. Each is a consumer without a group,
assigned to the partitions it reads and placed at a position: the
beginning, the end as of now (pinned before anything else is produced), or
an offset. The embedded broker answers "the end" up to one batch short
(see :class:`~pipeline.kafka.logview.LogEnd`): a reader placed there may
first read the tail of a batch written before, which every such reader
filters out by key.
"""
from __future__ import annotations

import asyncio
from typing import Any, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from .bus import Bus


async def assigned_consumer(bus: Bus, name: str, start: str | int, partitions: Sequence[int] | None = None,
                            **config: Any) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
    """A started consumer of ``name``'s ``partitions`` (all of them by default), placed at ``start``:
    ``"beginning"``, ``"end"`` or an offset. ``config``: more of aiokafka's consumer settings."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bus.settings.bootstrap_servers, group_id=None,
                                enable_auto_commit=False, **config)
    await consumer.start()
    try:
        numbers = partitions if partitions is not None else await bus.partitions(name)
        parts = [TopicPartition(bus.topic(name), p) for p in numbers]
        consumer.assign(parts)
        if start == "beginning":
            await consumer.seek_to_beginning(*parts)
        elif start == "end":
            await consumer.seek_to_end(*parts)
            for tp in parts:  # pin the position now: what is produced from here on is read
                await consumer.position(tp)
        else:
            for tp in parts:
                consumer.seek(tp, start)
    except BaseException:
        await consumer.stop()
        raise
    return consumer, parts


async def stop_reading(task: asyncio.Task | None, consumer: AIOKafkaConsumer | None) -> None:
    """Stop a background reader: cancel its task, then close its consumer."""
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    if consumer is not None:
        await consumer.stop()
