"""A shard store's marker of the members every row of a table has, and the scans that pass rows undecoded by it.

On real RocksDB stores: each kind of write keeps, narrows or clears the
marker, in the same write as its rows; a scan's answer is the same bytes
with the marker as without it.
"""
from __future__ import annotations

import json

import pytest

from harness import StopsAfter
from pipeline import codec
from pipeline.parsing.block import ROWS, BlockRequest, parse_block
from pipeline.query.dml import DmlSpec
from pipeline.records import ShardCommand, WriteRows
from pipeline.shard.apply import apply_to_store
from pipeline.shard.rocksdb import ShardStore
from pipeline.shard.scan import matching_rows

NAMES = ["id", "__createdtime__", "__updatedtime__", "name", "size"]


def dogs(*ids, **extra):
    return [{"id": i, "name": f"n{i}", "size": i * 2, **extra} for i in ids]


def declared(store, offset, rows, action="insert", names=NAMES, table="dog"):
    return store.write_batch(offset, "dev", table, "id", action, WriteRows.of(rows, "id"), float(offset + 1),
                             names=names)


def scanned(store, names=NAMES, table="dog") -> list[bytes]:
    return [raw for _, raw in matching_rows(store, {"database": "dev", "table": table, "keys": None,
                                                     "attributes": names}, None)]


def projected(store, names=NAMES, table="dog") -> list[list]:
    """What the scan must answer, from the rows decoded: every name, in order, null where a row lacks it."""
    return [[[name, row.get(name)] for name in names] for _, row in store.scan("dev", table)]


def as_pairs(raws: list[bytes]) -> list[list]:
    return [json.loads(raw, object_pairs_hook=lambda pairs: [list(p) for p in pairs]) for raw in raws]


@pytest.fixture
def store(tmp_path):
    store = ShardStore(tmp_path / "s")
    declared(store, 0, dogs(1, 2, 3))
    yield store
    store.close()


def test_rows_declared_with_the_same_members_mark_the_table_and_a_scan_of_them_passes_the_stored_bytes(tmp_path,
                                                                                                    monkeypatch):
    store = ShardStore(tmp_path / "s")
    declared(store, 0, dogs(1, 2, 3))
    assert store.shared_names("dev", "dog") == NAMES
    with monkeypatch.context() as patched:
        patched.setattr("pipeline.shard.scan.Projection", None)  # no row is decoded to be projected
        assert scanned(store) == [raw for _, raw in store.scan_raw("dev", "dog")]
    assert as_pairs(scanned(store)) == projected(store)
    store.close()
    reopened = ShardStore(tmp_path / "s")  # durable with the rows
    assert reopened.shared_names("dev", "dog") == NAMES and reopened.shared_names("dev", "cat") is None
    reopened.close()


def test_a_scan_of_other_names_still_projects_every_row(store):
    for names in (NAMES[:-1], ["size", "id"], [*NAMES, "zzz"]):
        assert as_pairs(scanned(store, names)) == projected(store, names)


# each write after the first declared one: what it leaves of the marker, and what the scan of NAMES then answers
WRITES = {
    "a batch that does not declare its names": (
        lambda s: s.write_batch(1, "dev", "dog", "id", "insert", WriteRows.of(dogs(4), "id"), 2.0), None),
    "new rows with fewer names": (lambda s: declared(s, 1, [{"id": 4, "name": "x"}], names=NAMES[:4]), None),
    "new rows with more names": (
        lambda s: declared(s, 1, dogs(4, age=1), names=codec.stored_names(["id", "name", "size", "age"], "id")), None),
    "new rows with the same names": (lambda s: declared(s, 1, dogs(4, 5)), NAMES),
    "an upsert merging rows of the same names": (lambda s: declared(s, 1, dogs(2, 7), "upsert"), NAMES),
    "an update of some of the names": (
        lambda s: declared(s, 1, [{"id": 2, "size": 0}, {"id": 9, "size": 1}], "update",
                           codec.stored_names(["id", "size"], "id")), NAMES),
    "an upsert of some of the names that adds a row": (
        lambda s: declared(s, 1, [{"id": 2, "size": 0}, {"id": 9, "size": 1}], "upsert",
                           codec.stored_names(["id", "size"], "id")), None),
    "an upsert merging a new name": (
        lambda s: declared(s, 1, [{"id": 2, "age": 5}], "upsert", codec.stored_names(["id", "age"], "id")), None),
    "an insert of keys already stored (nothing written)": (
        lambda s: declared(s, 1, [{"id": 2}], names=codec.stored_names(["id"], "id")), NAMES),
    "an SQL UPDATE": (
        lambda s: apply_to_store(s, 1, ShardCommand("SQL_UPDATE", "q", "dev", "dog", primary_key="id", txn_time=5.0,
                                                    payload=DmlSpec("update", None, {"size": "size + 1"}).to_json())),
        None),
    "a delete of keys": (lambda s: s.delete_keys(1, "dev", "dog", [2]), NAMES),
    "a delete of the rows before a time": (lambda s: s.delete_before(1, "dev", "dog", 5.0), NAMES),
    "a drop of the table": (lambda s: s.drop_table(1, "dev", "dog"), None),
    "a drop of an attribute no row has": (lambda s: s.drop_attribute(1, "dev", "dog", "age"), NAMES),
    "a drop of an attribute every row has": (lambda s: s.drop_attribute(1, "dev", "dog", "size"), NAMES[:4]),
    "a write to another table": (lambda s: s.write_batch(1, "dev", "cat", "id", "insert",
                                                         WriteRows.of([{"id": 1}], "id"), 2.0), NAMES),
}


@pytest.mark.parametrize("write", WRITES)
def test_each_write_keeps_narrows_or_clears_the_marker_and_the_scan_answers_as_from_decoded_rows(store, write):
    apply, marker = WRITES[write]
    apply(store)
    assert store.shared_names("dev", "dog") == marker
    for names in (NAMES, NAMES[:4]):
        assert as_pairs(scanned(store, names)) == projected(store, names)
    if marker is not None:  # the marker is true: every row has exactly its names, in order
        stored = as_pairs([raw for _, raw in store.scan_raw("dev", "dog")])
        assert all([name for name, _ in row] == marker for row in stored)


def test_a_dropped_table_is_marked_again_by_its_next_declared_write(store):
    store.drop_table(1, "dev", "dog")
    declared(store, 2, [{"id": 1, "name": "x"}], names=NAMES[:4])
    assert store.shared_names("dev", "dog") == NAMES[:4]


def test_the_marker_is_applied_once_with_its_command_and_a_replay_gives_the_same(tmp_path):
    store = ShardStore(tmp_path / "s")
    first = ShardCommand("WRITE_BATCH", "job", "dev", "dog", primary_key="id", action="insert", txn_time=1.0,
                         payload=codec.dumps(dogs(1, 2)), names=NAMES)
    other = ShardCommand("WRITE_BATCH", "job", "dev", "dog", seq=1, primary_key="id", action="insert",
                         txn_time=2.0, payload=codec.dumps([{"id": 3}]), names=["id", *NAMES[1:3]])
    apply_to_store(store, 0, ShardCommand.decode(first.encode()))
    assert store.shared_names("dev", "dog") == NAMES
    apply_to_store(store, 1, ShardCommand.decode(other.encode()))
    assert store.shared_names("dev", "dog") is None
    replayed = ShardStore(tmp_path / "r")
    for offset, command in enumerate((first, other)):
        apply_to_store(replayed, offset, command)
        apply_to_store(replayed, offset, command)  # redelivered: recognised, nothing changes
    assert replayed.shared_names("dev", "dog") is None
    assert [r for _, r in replayed.scan_raw("dev", "dog")] == [r for _, r in store.scan_raw("dev", "dog")]


def test_a_store_without_the_marker_decodes_as_before_and_is_never_marked_while_it_has_rows(tmp_path):
    store = ShardStore(tmp_path / "s")
    declared(store, 0, dogs(1))
    store.db.delete(b"\x00names/dev\x00dog")  # as a store written before the marker existed
    assert store.shared_names("dev", "dog") is None
    declared(store, 1, dogs(2))  # the rows before may have other names
    assert store.shared_names("dev", "dog") is None
    assert as_pairs(scanned(store)) == projected(store)


def test_a_drop_of_an_attribute_stopped_halfway_leaves_the_rows_marked_mixed(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.shard.rocksdb.REWRITE_CHUNK", 3)
    store = ShardStore(tmp_path / "s")
    declared(store, 0, dogs(*range(10)))
    real = store.db
    store.db = StopsAfter(real, 2)  # one chunk of three rewritten, then the worker dies
    with pytest.raises(KeyboardInterrupt):
        store.drop_attribute(1, "dev", "dog", "size")
    real.close()
    store = ShardStore(tmp_path / "s")
    assert sum("size" in row for _, row in store.scan("dev", "dog")) == 7
    assert store.shared_names("dev", "dog") is None
    assert as_pairs(scanned(store)) == projected(store)
    store.drop_attribute(1, "dev", "dog", "size")  # the replay
    assert store.shared_names("dev", "dog") is None and not any("size" in row for _, row in store.scan("dev", "dog"))


def test_a_command_written_before_names_existed_decodes_without_them():
    command = ShardCommand("WRITE_BATCH", "job", "dev", "dog", payload=b"[]", names=NAMES)
    assert ShardCommand.decode(command.encode()).names == NAMES
    old = ShardCommand("WRITE_BATCH", "job", "dev", "dog", payload=b"[]", reply_partition=2).encode()[:-1]
    assert ShardCommand.decode(old).names is None and ShardCommand.decode(old).reply_partition == 2


@pytest.mark.parametrize("lines, uniform", [
    (["1,a,2"] + [f"{i},b,3" for i in range(2, 300)], True),  # Arrow's block: every row has the header
    (["1,a,2", "2,b,3"], True),  # the csv module's block (few lines)
    (["1,a,2", "2,b"], False),  # a short row lacks an attribute
    (["1,a,2", "2,b,3,4"], False),  # extra cells: __parsed_extra
])
def test_a_parsed_block_says_whether_every_row_has_the_header(lines, uniform):
    data = ("\n".join(lines) + "\n").encode()
    parsed = parse_block(BlockRequest(data, 1, ("id", "name", "size"), ",", None, 1 << 20, "id", 7, 4))
    assert parsed.kind == ROWS and parsed.uniform is uniform
