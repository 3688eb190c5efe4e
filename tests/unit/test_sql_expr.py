"""Harper's SQL expressions over one row (query/expr.py), and SQL's UPDATE/DELETE applied on a shard."""
from __future__ import annotations

import pytest

from pipeline import codec
from pipeline.contract.validate_sql import parse_expression
from pipeline.query.dml import DmlSpec
from pipeline.query.expr import compile_expression, compile_where
from pipeline.records import ShardCommand, WriteRows
from pipeline.shard.apply import apply_to_store
from pipeline.shard.rocksdb import ShardStore

ROW = {"id": 1, "w": 55, "s": "12", "t": "false", "b": False, "name": "Penny", "none": None}


@pytest.mark.parametrize("where, expected", [
    ("id = 1", True), ("id = '1'", False), ("id IN ('1', '2')", True),  # IN compares loosely, = does not
    ("b = 'false'", True), ("t = 'false'", False),  # the literals 'true'/'false' are Harper's booleans
    ("w > '20'", False), ("w > 20", True), ("s > 20", False),  # attribute against constant: within its type
    ("s + 0 > 11", False), ("s * 1 > 11", True), ("DATE_ADD(0, 1, 'days') > '86399999'", False),
    ("UPPER(name) = 'PENNY'", True), ("name LIKE 'p%'", True), ("name LIKE '_e%y'", True),
    ("none IS NULL", True), ("missing IS NULL", True), ("none = NULL", False), ("none <> 1", False),
    ("w BETWEEN 50 AND 60", True), ("NOT (w < 10)", True), ("w = 55 AND (name = 'x' OR id = 1)", True),
])
def test_where(where, expected):
    assert compile_where(where)(ROW) is expected


@pytest.mark.parametrize("expression, value", [
    ("'a' + 1", "a1"), ("1 + '1'", "11"), ("5 / 2", 2.5), ("5 % 3", 2), ("none + 1", None), ("'x' || 'y'", "xy"),
    ("w * 2", 110), ("s * 2", 24), ("ROUND(2.5)", 3), ("FLOOR(w / 10)", 5), ("COALESCE(none, w)", 55),
    ("DATE_FORMAT(0, 'YYYY-MM-DD HH:mm:ss.SSS ZZ [x] dddd Do MMM')", "1970-01-01 00:00:00.000 +0000 x Thursday 1st Jan"),
    ("DATE_DIFF('2020-03-01', '2020-01-31', 'months')", 1.032258064516129),
    ("geoDistance('[0,0]', '[0,1]', 'kilometers')", 111.1950802335329), ("'s' * 1", None),
    ("geoArea('not geojson')", None), ("DATE('nonsense')", None),
])
def test_expression(expression, value):
    assert compile_expression(parse_expression(expression))(ROW) == value


def dml(kind: str, spec: DmlSpec, txn_time: float) -> ShardCommand:
    return ShardCommand(kind, "req", "dev", "dog", primary_key="id", payload=spec.to_json(), reply="req",
                        txn_time=txn_time)


def test_an_update_is_evaluated_on_the_shards_rows_once(tmp_path):
    store = ShardStore(tmp_path / "s")
    store.write_batch(0, "dev", "dog", "id", "insert", WriteRows.of([{"id": 1, "age": 3}, {"id": 2, "age": 9}], "id"),
                      10.0)
    update = dml("SQL_UPDATE", DmlSpec("update", "age > 5", {"age": "age + 1", "seen": "NOW()"}), 5000.0)
    first = apply_to_store(store, 1, update)
    assert (first.written_keys, first.skipped_keys) == ([2], [])
    rows = {r["id"]: r for _, r in store.scan("dev", "dog")}
    # NOW() is the command's time, so a replay of the log writes the same value
    assert rows[2] == {"id": 2, "age": 10, "seen": 5000, "__createdtime__": 10.0, "__updatedtime__": 5000.0}
    assert rows[1]["age"] == 3
    # delivered again: the writer finds it applied and answers with the stored result (nothing re-evaluated)
    assert store.already_applied(1) and store.stored_result(1).written_keys == [2]
    deleted = apply_to_store(store, 2, dml("SQL_DELETE", DmlSpec("delete", "age < 5", {}), 6000.0))
    assert deleted.written_keys == [1]
    assert [r["id"] for _, r in store.scan("dev", "dog")] == [2]
    everything = apply_to_store(store, 3, dml("SQL_DELETE", DmlSpec("delete", None, {}), 7000.0))
    assert everything.written_keys == [2] and list(store.scan("dev", "dog")) == []
    assert codec.loads(DmlSpec("update", None, {"a": "1"}).to_json()) == {"action": "update", "where": None,
                                                                          "set": {"a": "1"}}
    store.close()
