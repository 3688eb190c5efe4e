"""Where a log ends, on the embedded broker (Tansu), and the views that wait for it (``kafka.logview``).

Tansu 0.6 answers ListOffsets(latest) with the last batch's *base* offset + 1, not its last offset + 1,
while its fetch responses carry the right high watermark. A view that waits only for the ListOffsets
answer can answer before it has folded a batch another worker wrote in one request (``put_many``).
"""
from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.kafka import topics
from pipeline.kafka.bus import Bus
from pipeline.kafka.logview import LogView

#: more records than one fetch of a view hands over at once (``getmany``'s max_records)
RECORDS = 5000


async def write_batch(bus: Bus, name: str, count: int, partition: int = 0) -> list[int]:
    """``count`` records sent in one produce request (the producer batches what it is given before awaiting)."""
    deliveries = [await bus.send(name, b"{}", key=f"k{i}".encode(), partition=partition) for i in range(count)]
    return [meta.offset for meta in await asyncio.gather(*deliveries)]


def test_the_embedded_broker_counts_the_last_batch_by_its_base_offset(settings):
    topics.create_topics_sync(settings)

    async def scenario() -> None:
        bus = Bus(settings)
        await bus.start()
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None)
        await consumer.start()
        try:
            tp = TopicPartition(bus.topic("catalog"), 0)
            consumer.assign([tp])
            offsets = await write_batch(bus, "catalog", 5)
            assert offsets == [0, 1, 2, 3, 4]
            # if this fails, Tansu answers right now and LogView's fetch-based end may be dropped
            assert (await consumer.end_offsets([tp]))[tp] == 1
            await write_batch(bus, "catalog", 1)
            assert (await consumer.end_offsets([tp]))[tp] == 6  # a batch of one is counted right
            await write_batch(bus, "catalog", 3)
            assert (await consumer.end_offsets([tp]))[tp] == 7
            await consumer.seek_to_beginning(tp)
            read = []
            while len(read) < 9:
                read += [m.offset for m in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, [])]
            assert consumer.highwater(tp) == 9  # the fetch response's high watermark is right
        finally:
            await consumer.stop()
            await bus.stop()

    asyncio.run(scenario())


class Folded:
    def __init__(self) -> None:
        self.keys: set[str] = set()

    def __call__(self, key: str, value: object) -> None:
        self.keys.add(key)


def test_a_view_started_after_a_large_batch_is_ready_only_once_it_has_folded_all_of_it(settings):
    topics.create_topics_sync(settings)

    async def scenario() -> None:
        writer, reader = Bus(settings), Bus(settings)
        await writer.start()
        await reader.start()
        view = LogView(reader, "catalog", folded := Folded())
        try:
            await write_batch(writer, "catalog", RECORDS)
            await view.start()
            await view.ready()  # awaited directly: the view's task may go on folding only once this one has looked
            assert len(folded.keys) == RECORDS
        finally:
            await view.stop()
            await reader.stop()
            await writer.stop()

    asyncio.run(scenario())


def test_catch_up_returns_once_a_batch_another_worker_wrote_is_folded(settings):
    topics.create_topics_sync(settings)

    async def scenario() -> None:
        writer, reader = Bus(settings), Bus(settings)
        await writer.start()
        await reader.start()
        mine, theirs = LogView(writer, "catalog", Folded()), LogView(reader, "catalog", folded := Folded())
        await mine.start()
        await theirs.start()
        try:
            await asyncio.wait_for(theirs.ready(), 30)
            for round in range(3):
                keys = [f"r{round}/{i}" for i in range(RECORDS)]
                await mine.put_many([(key, {}) for key in keys])  # one produce request, as a wide file's columns
                await theirs.catch_up()
                assert folded.keys.issuperset(keys), f"round {round}: {len(set(keys) - folded.keys)} not folded"
        finally:
            await theirs.stop()
            await mine.stop()
            await reader.stop()
            await writer.stop()

    asyncio.run(scenario())
