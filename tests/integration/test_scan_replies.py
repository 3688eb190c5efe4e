"""A shard's scan streamed to ``export-results`` (``shard.scan``) on a real broker and a real store: messages of
whole rows in key order, cut by count and by bytes, a row larger than a message alone, then DONE with the count."""
from __future__ import annotations

import asyncio

from pipeline import codec
from pipeline.kafka import topics
from pipeline.kafka.bus import Bus
from pipeline.kafka.consumers import assigned_consumer
from pipeline.query.gather import row_line
from pipeline.records import ShardReply, WriteRows
from pipeline.shard.rocksdb import ShardStore
from pipeline.shard.scan import BYTES_PER_MESSAGE, ROWS_PER_MESSAGE, matching_rows, stream_rows

NAMES = ["id", "__createdtime__", "__updatedtime__", "note"]


def test_a_scan_is_sent_in_messages_of_whole_rows_in_key_order(settings, tmp_path):
    topics.create_topics_sync(settings)
    store = ShardStore(tmp_path / "shard")
    records = [{"id": i, "note": "x" * 200} for i in range(12_000)]
    records[7_000]["note"] = "y" * (BYTES_PER_MESSAGE + 10)  # larger than a message: it goes alone
    store.write_batch(0, "db", "t", "id", "insert", WriteRows.of(records, "id"), 1000.0)
    expected = [row_line(key, raw) for key, raw in store.scan_raw("db", "t")]

    async def scenario() -> list[ShardReply]:
        bus = Bus(settings)
        await bus.start()
        consumer, _ = await assigned_consumer(bus, ShardReply.TOPIC, "end", [1])
        try:
            spec = {"database": "db", "table": "t", "attributes": NAMES}
            sent = await stream_rows(bus, "scan-1", 3, matching_rows(store, spec, None), partition=1)
            assert sent == len(records)
            await bus.flush()
            replies: list[ShardReply] = []
            while not replies or replies[-1].kind != "DONE":
                msg = await asyncio.wait_for(consumer.getone(), 30)
                assert msg.key == b"scan-1"
                replies.append(ShardReply.decode(msg.value))
            return replies
        finally:
            await consumer.stop()
            await bus.stop()

    replies = asyncio.run(scenario())
    store.close()
    *rows, done = replies
    assert [r.seq for r in replies] == list(range(len(replies))) and {r.shard for r in replies} == {3}
    assert done.kind == "DONE" and done.count == len(records)
    assert b"".join(r.rows for r in rows) == b"".join(expected)  # every row, as stored (already projected)
    assert sum(r.count for r in rows) == len(records)
    for reply in rows:
        assert reply.rows.endswith(b"\n") and reply.rows.count(b"\n") == reply.count
        assert reply.count <= ROWS_PER_MESSAGE and (len(reply.rows) <= BYTES_PER_MESSAGE or reply.count == 1)
    # the rows before the large one, the large one alone, the rows after: full messages but at the cuts
    assert [r.count for r in rows] == [ROWS_PER_MESSAGE] * 7 + [1] + [ROWS_PER_MESSAGE] * 4 + [ROWS_PER_MESSAGE - 1]
    assert [codec.loads(line.split(b"\t", 1)[1])["id"] for r in rows for line in r.rows.splitlines()] == \
        list(range(12_000))
