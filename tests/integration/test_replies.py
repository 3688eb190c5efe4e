"""A worker's replies (``kafka.replies``) on a real broker: its partition is read only while a request waits."""
from __future__ import annotations

import asyncio

from pipeline.kafka import topics
from pipeline.kafka.bus import Bus
from pipeline.kafka.replies import Replies
from pipeline.metrics import Metrics
from pipeline.records import ShardReply


def read(metrics: Metrics, awaited: str) -> float:
    return metrics.registry.get_sample_value("harper_pipeline_replies_read_total",
                                             {"worker": "w", "awaited": awaited}) or 0.0


def test_replies_are_fetched_only_while_a_request_waits_and_none_is_missed(settings):
    topics.create_topics_sync(settings)

    async def scenario() -> None:
        bus, metrics = Bus(settings), Metrics("w")
        await bus.start()
        replies = Replies(bus, metrics)
        await replies.start()
        try:
            async def reply(request_id: str, seq: int) -> None:
                await (await bus.send_record(ShardReply(request_id, 0, "DONE", seq), key=request_id.encode(),
                                             partition=replies.partition))

            # nobody waits: a reply (to a request already ended) stays unread, the partition is not fetched
            await reply("ended", 0)
            await asyncio.sleep(0.5)  # ten fetch waits of the reader: none was sent
            assert read(metrics, "no") == read(metrics, "yes") == 0

            first, second = replies.open("first"), replies.open("second")
            await reply("first", 1)
            assert (await asyncio.wait_for(first.get(), 10)).seq == 1
            assert read(metrics, "no") == 1  # the reply from before was read once reading resumed, and passed over
            replies.close("first")  # another request still waits: its replies still come
            await reply("second", 2)
            assert (await asyncio.wait_for(second.get(), 10)).seq == 2
            replies.close("second")

            # paused again, and resumed by the next request: its reply arrives
            third = replies.open("third")
            await reply("third", 3)
            assert (await asyncio.wait_for(third.get(), 10)).seq == 3
            replies.close("third")
            assert read(metrics, "yes") == 3
        finally:
            await replies.stop()
            await bus.stop()

    asyncio.run(scenario())
