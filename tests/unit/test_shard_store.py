"""The shard store's exactly-once bookkeeping, on a real RocksDB."""
from __future__ import annotations

import pytest

from harness import StopsAfter
from pipeline import codec
from pipeline.records import ShardCommand, WriteRows
from pipeline.shard.apply import apply_to_store
from pipeline.shard.rocksdb import ShardStore


def records(*pairs):
    return [{"id": k, "name": v} for k, v in pairs]


def test_a_redelivered_command_is_applied_once(tmp_path):
    store = ShardStore(tmp_path / "s")
    first = store.write_batch(7, "dev", "dog", "id", "upsert", WriteRows.of(records((1, "a"), (2, "b")), "id"), 1000.0)
    assert (first.parsed, first.written) == (2, 2)
    assert store.already_applied(7) and not store.already_applied(8)
    # the same offset again (a redelivery): recognised, and its result is still known
    assert store.stored_result(7).written == 2
    store.close()
    reopened = ShardStore(tmp_path / "s")  # the offset is durable with the data
    assert reopened.already_applied(7)
    assert reopened.stored_result(7).parsed == 2
    assert [r["name"] for _, r in reopened.scan("dev", "dog")] == ["a", "b"]


def test_insert_update_upsert_semantics(tmp_path):
    store = ShardStore(tmp_path / "s")
    store.write_batch(0, "dev", "dog", "id", "insert", WriteRows.of(records((1, "a"), (1, "dup")), "id"), 10.0)
    assert [r["name"] for _, r in store.scan("dev", "dog")] == ["a"]  # the first copy wins an insert
    result = store.write_batch(1, "dev", "dog", "id", "update",
                               WriteRows.of([{"id": 1, "age": 3}, {"id": 2, "age": 4}], "id"), 20.0, keep_keys=True)
    assert (result.written_keys, result.skipped_keys) == ([1], [2])
    [(_, row)] = list(store.scan("dev", "dog"))
    assert row == {"id": 1, "name": "a", "age": 3, "__createdtime__": 10.0, "__updatedtime__": 20.0}
    store.write_batch(2, "dev", "dog", "id", "upsert", WriteRows.of([{"id": 1, "name": None}, {"id": 2}], "id"), 30.0)
    rows = dict(store.scan("dev", "dog"))
    assert [r["name"] if "name" in r else "-" for r in rows.values()] == [None, "-"]
    deleted = store.delete_keys(3, "dev", "dog", [2, 5])
    assert (deleted.written_keys, deleted.skipped_keys) == ([2], [5])
    store.drop_table(4, "dev", "dog")
    assert list(store.scan("dev", "dog")) == []


def test_keys_keep_harpers_order_and_exactness(tmp_path):
    store = ShardStore(tmp_path / "s")
    keys = ["b", 10, 2, "a", 9007199254740993, 9007199254740992, -1.5]
    store.write_batch(0, "dev", "t", "id", "insert", WriteRows.of([{"id": codec.normalize_key(k)} for k in keys], "id"),
                      1.0)
    assert [r["id"] for _, r in store.scan("dev", "t")] == [-1.5, 2, 10, 9007199254740992, 9007199254740993, "a", "b"]
    assert [r["id"] for _, r in store.get_many("dev", "t", [10, "a", 404])] == [10, "a"]


def test_a_command_sent_again_by_a_resumed_load_is_skipped(tmp_path):
    store = ShardStore(tmp_path / "s")

    def upsert(offset: int, seq: int, name: str):
        return apply_to_store(store, offset, ShardCommand("WRITE_BATCH", "job-1", "dev", "dog", seq=seq,
                                                          primary_key="id", action="upsert",
                                                          payload=codec.dumps(records((1, name)))))

    assert upsert(0, 0, "first").written == 1 and store.next_seq("job-1") == 1
    # the resumed splitter sends seq 0 again at a later offset: not applied again, but its first result is
    # reported again (that report may have been lost with the broker's log; the tracker counts a command once)
    again = upsert(5, 0, "again")
    assert (again.parsed, again.written) == (1, 1)
    assert store.already_applied(5) and store.stored_result(5) is None
    assert upsert(6, 1, "next").written == 1 and store.next_seq("job-1") == 2
    assert [r["name"] for _, r in store.scan("dev", "dog")] == ["next"]
    assert store.next_seq("another-job") == 0


def test_dropping_an_attribute_rewrites_the_records_that_have_it_in_bounded_writes(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.shard.rocksdb.REWRITE_CHUNK", 3)  # several writes for 10 records
    store = ShardStore(tmp_path / "s")
    store.write_batch(0, "dev", "dog", "id", "insert",
                      WriteRows.of([{"id": i, "name": f"n{i}", **({"age": i} if i % 2 else {})} for i in range(10)],
                                   "id"), 1.0)
    store.write_batch(1, "dev", "cat", "id", "insert", WriteRows.of([{"id": 1, "age": 9}], "id"), 1.0)
    command = ShardCommand("DROP_ATTRIBUTE", "", "dev", "dog", payload=codec.dumps("age"))
    assert apply_to_store(store, 2, command) is None
    rows = [r for _, r in store.scan("dev", "dog")]
    assert len(rows) == 10 and all("age" not in r and r["name"] == f"n{r['id']}" for r in rows)
    assert [r["age"] for _, r in store.scan("dev", "cat")] == [9]  # another table keeps its attribute
    assert store.offset == 2
    # a replay applies it again (a worker that stopped halfway): the same records, nothing else changes
    apply_to_store(store, 2, command)
    assert [r for _, r in store.scan("dev", "dog")] == rows


def test_delete_before_deletes_in_bounded_writes_and_a_replay_after_a_stop_counts_each_record_once(tmp_path,
                                                                                                 monkeypatch):
    monkeypatch.setattr("pipeline.shard.rocksdb.REWRITE_CHUNK", 3)  # several writes for 10 records
    store = ShardStore(tmp_path / "s")
    store.write_batch(0, "dev", "dog", "id", "insert", WriteRows.of([{"id": i} for i in range(10)], "id"), 1.0)
    store.write_batch(1, "dev", "dog", "id", "insert", WriteRows.of([{"id": i} for i in range(10, 14)], "id"), 5.0)
    command = ShardCommand("DELETE_BEFORE", "job-d", "dev", "dog", before=2.0)
    real = store.db
    store.db = StopsAfter(real, 3)  # two chunks of three written, then the worker dies
    with pytest.raises(KeyboardInterrupt):
        apply_to_store(store, 2, command)
    real.close()
    store = ShardStore(tmp_path / "s")
    assert store.offset == 1 and len(list(store.scan("dev", "dog"))) == 8  # six gone, the command not applied
    result = apply_to_store(store, 2, command)  # the replay
    assert (result.parsed, result.written) == (10, 10)
    assert [r["id"] for _, r in store.scan("dev", "dog")] == [10, 11, 12, 13]
    assert store.stored_result(2).written == 10 and store.offset == 2
    assert not [k for k in store.db.keys() if k.startswith(b"\x00tally/")]  # the tally went with the result

def test_rows_are_stored_in_the_exports_canonical_order_and_new_ones_as_the_splitter_encoded_them(tmp_path):
    store = ShardStore(tmp_path / "s")
    rows = WriteRows.of([{"name": "a", "id": 1, "Zed": {"y": 1, "x": [2]}, "__createdtime__": 5},
                         {"id": 2, "big": 123456789012345678901234567890}], "id")
    encoder = WriteRows()
    for index, key in enumerate(rows.keys):
        row = rows.row(index)
        encoder.add(key, row, len(row.head) + len(row.tail))
    payload = encoder.payload()
    assert WriteRows.unpack(payload, "id") == rows
    apply_to_store(store, 0, ShardCommand("WRITE_BATCH", "job", "dev", "dog", primary_key="id", action="insert",
                                          txn_time=10.5, payload=payload))
    stored = [raw for _, raw in store.scan_raw("dev", "dog")]
    assert stored == [b'{"id":1,"__createdtime__":10.5,"__updatedtime__":10.5,"Zed":{"y":1,"x":[2]},"name":"a"}',
                      b' {"id":2,"__createdtime__":10.5,"__updatedtime__":10.5,"big":123456789012345678901234567890}']
    # a merge keeps the creation time and the order; an older worker's payload (JSON records) still applies
    apply_to_store(store, 1, ShardCommand("WRITE_BATCH", "job", "dev", "dog", seq=1, primary_key="id",
                                          action="upsert", txn_time=20.0,
                                          payload=codec.dumps([{"id": 1, "age": 3, "name": "b"}])))
    assert next(raw for _, raw in store.scan_raw("dev", "dog")) == \
        b'{"id":1,"__createdtime__":10.5,"__updatedtime__":20.0,"Zed":{"y":1,"x":[2]},"age":3,"name":"b"}'


def test_a_reopened_store_shares_the_workers_block_cache(tmp_path):
    """Opening an existing store must not bring back the options of its OPTIONS file: those lack the shared block
    cache, and each store would read through an 8 MB cache of its own (memory growing with the shards)."""
    from pipeline.shard import rocksdb

    created = ShardStore(tmp_path / "s")
    created.write_batch(1, "dev", "dog", "id", "insert", WriteRows.of(records((1, "a")), "id"), 1000.0)
    created.close()
    reopened = ShardStore(tmp_path / "s")
    try:
        assert reopened.db.property_int_value("rocksdb.block-cache-capacity") == rocksdb.BLOCK_CACHE_BYTES
        assert [r["name"] for _, r in reopened.scan("dev", "dog")] == ["a"]
    finally:
        reopened.close()
