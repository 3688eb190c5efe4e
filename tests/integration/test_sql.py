"""Harper's SQL end to end, through a real worker on a real broker: typing, DML, functions, exports.

Every expected answer here was recorded from a real Harper 4.7 given the same records and statements.
"""
from __future__ import annotations

import json

import pytest

from harness import Client, WorkerProcess

#: a column of integers, floats, a numeric text and nulls (w), and one of integers and floats (n)
MIX = [{"id": 1, "w": 55, "n": 3, "name": "Penny", "good": True},
       {"id": 2, "w": 38.5, "n": 2.5, "name": "Harper", "good": False},
       {"id": 3, "w": 9.25, "n": 7, "name": "Alby", "good": "false"},
       {"id": 4, "w": "12", "n": 10.75, "name": None},
       {"id": 5, "n": 1, "name": "Billy"},
       {"id": 6, "w": 100, "n": 4, "name": "Rose", "good": True},
       {"id": 7, "w": None, "name": "Kato", "good": None},
       {"id": 8, "w": 55, "n": 6, "name": "Gracie", "good": True}]
POLYGON = ('{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[0.123456,0],[0.123456,0.123456],'
           '[0,0.123456]]]}}')


@pytest.fixture(scope="module")
def worker(module_settings, tmp_path_factory):
    process = WorkerProcess(module_settings, tmp_path_factory.mktemp("logs") / "worker.log").start()
    client = process.client
    client.ok({"operation": "create_table", "database": "sq", "table": "mix", "primary_key": "id"})
    client.ok({"operation": "insert", "database": "sq", "table": "mix", "records": MIX})
    yield process
    process.stop()


def sql(worker, statement):
    return worker.client.ok({"operation": "sql", "sql": statement})


def test_order_by_over_a_mixed_column_sorts_as_harper(worker):
    """null first going up, numbers and numeric text by value, ties in key order (not DuckDB's JSON text)."""
    assert sql(worker, "SELECT id, w FROM sq.mix ORDER BY w DESC") == [
        {"id": 6, "w": 100}, {"id": 1, "w": 55}, {"id": 8, "w": 55}, {"id": 2, "w": 38.5}, {"id": 4, "w": "12"},
        {"id": 3, "w": 9.25}, {"id": 5, "w": None}, {"id": 7, "w": None}]
    assert sql(worker, "SELECT id, w FROM sq.mix ORDER BY w") == [
        {"id": 5, "w": None}, {"id": 7, "w": None}, {"id": 3, "w": 9.25}, {"id": 4, "w": "12"},
        {"id": 2, "w": 38.5}, {"id": 1, "w": 55}, {"id": 8, "w": 55}, {"id": 6, "w": 100}]


def test_aggregates_and_arithmetic_over_integers_and_floats(worker):
    assert sql(worker, "SELECT AVG(n) AS a, SUM(n) AS s, MIN(n) AS lo, MAX(n) AS hi, COUNT(n) AS c FROM sq.mix") == [
        {"a": 4.892857142857143, "s": 34.25, "lo": 1, "hi": 10.75, "c": 7}]
    assert sql(worker, "SELECT id, n * 2 AS d FROM sq.mix WHERE id < 4") == [
        {"id": 1, "d": 6}, {"id": 2, "d": 5}, {"id": 3, "d": 14}]
    # an expression that is NULL is left out of its row (AlaSQL's undefined); a NULL column is shown
    assert sql(worker, "SELECT id, w * 2 AS d, w FROM sq.mix WHERE id IN (4, 5)") == [
        {"id": 4, "d": 24, "w": "12"}, {"id": 5, "w": None}]
    assert sql(worker, "SELECT w, COUNT(*) AS c FROM sq.mix GROUP BY w") == [
        {"w": 55, "c": 2}, {"w": 38.5, "c": 1}, {"w": 9.25, "c": 1}, {"w": "12", "c": 1}, {"w": None, "c": 2},
        {"w": 100, "c": 1}]


def test_where_compares_as_harper(worker):
    assert sql(worker, "SELECT id FROM sq.mix WHERE id IN ('1', '2')") == [{"id": 1}, {"id": 2}]
    assert sql(worker, "SELECT id FROM sq.mix WHERE good = 'false'") == [{"id": 2}]  # the boolean, not the text
    assert sql(worker, "SELECT id FROM sq.mix WHERE w > '20'") == []
    assert sql(worker, "SELECT id FROM sq.mix WHERE w > 20") == [{"id": 1}, {"id": 2}, {"id": 6}, {"id": 8}]
    assert sql(worker, "SELECT id, name FROM sq.mix WHERE name LIKE '%a%'") == [
        {"id": 2, "name": "Harper"}, {"id": 3, "name": "Alby"}, {"id": 7, "name": "Kato"}, {"id": 8, "name": "Gracie"}]
    # a function in WHERE is evaluated on the shards like any other condition
    assert sql(worker, "SELECT id, UPPER(name) AS u FROM sq.mix WHERE UPPER(name) = 'ROSE' OR id <= 1") == [
        {"id": 1, "u": "PENNY"}, {"id": 6, "u": "ROSE"}]


def test_select_without_from_and_harpers_functions(worker):
    assert sql(worker, "SELECT 2 + 2") == [{"2 + 2": 4}]
    assert sql(worker, "SELECT DATE_ADD('2020-04-01', 1, 'days') AS da, DATE_SUB('2020-4-1', 3, 'years') AS ds, "
                       "DATE_DIFF('2020-04-05', '2020-04-01', 'days') AS dd, DATE_DIFF('2020-04-05', '2020-04-01') AS ms, "
                       "DATE_FORMAT(1585699200000, 'x') AS x, DATE_FORMAT('2020-04-01', 'dddd') AS day, "
                       "EXTRACT('2020-04-01T10:11:12Z', 'hour') AS h, DATE('2020-04-01') AS d, "
                       "OFFSET_UTC('2020-04-01', 2) AS o") == [
        {"da": 1585785600000, "ds": 1491004800000, "dd": 4, "ms": 345600000, "x": "1585699200000",
         "day": "Wednesday", "h": "10", "d": "2020-04-01T00:00:00.000+0000", "o": "2020-04-01T02:00:00.000+0200"}]
    assert sql(worker, f"SELECT geoArea('{POLYGON}')") == [{f"geoArea('{POLYGON}')": 188871526.05092356}]
    assert sql(worker, "SELECT geoDistance('[-104.979127,39.761563]', '[-77.035248,38.889475]', 'miles')") == [
        {"geoDistance('[-104.979127,39.761563]','[-77.035248,38.889475]','miles')": 1488.6913067538915}]
    near = sql(worker, "SELECT geoNear('[-104.979127,39.761563]', '[-104.99025,39.739235]', 50, 'miles') AS n")
    assert near == [{"n": True}]


def test_insert_update_delete_answer_as_harper(worker):
    client = worker.client
    client.ok({"operation": "create_table", "database": "sq", "table": "dml", "primary_key": "id"})
    assert sql(worker, "INSERT INTO sq.dml (id, n, w) VALUES (20, 'x', 1+1), (21, 'y', null)") == {
        "message": "inserted 2 of 2 records", "inserted_hashes": [20, 21], "skipped_hashes": []}
    assert sql(worker, "INSERT INTO sq.dml (id, n) VALUES (20, 'dup')") == {
        "message": "inserted 0 of 1 records", "inserted_hashes": [], "skipped_hashes": [20]}
    before = sql(worker, "SELECT id, __createdtime__, __updatedtime__ FROM sq.dml WHERE id = 20")[0]
    assert sql(worker, "UPDATE sq.dml SET w = w * 10, q = UPPER(n) WHERE id >= 20") == {
        "message": "updated 2 of 2 records", "update_hashes": [20, 21], "skipped_hashes": []}
    assert sql(worker, "UPDATE sq.dml SET __createdtime__ = 5 WHERE id = 20") == {
        "message": "updated 1 of 1 records", "update_hashes": [20], "skipped_hashes": []}
    assert sql(worker, "UPDATE sq.dml SET n = 'z' WHERE id = 999") == {
        "message": "updated 0 of 0 records", "update_hashes": [], "skipped_hashes": []}
    after = sql(worker, "SELECT id, n, w, q, __createdtime__, __updatedtime__ FROM sq.dml ORDER BY id")
    assert [{k: r[k] for k in ("id", "n", "w", "q")} for r in after] == [
        {"id": 20, "n": "x", "w": 20, "q": "X"}, {"id": 21, "n": "y", "w": None, "q": "Y"}]
    assert after[0]["__createdtime__"] == before["__createdtime__"]  # not writable
    assert after[0]["__updatedtime__"] > before["__updatedtime__"]
    described = client.ok({"operation": "describe_table", "database": "sq", "table": "dml"})
    assert "q" in {a["attribute"] for a in described["attributes"]}  # the SET made the attribute
    assert sql(worker, "DELETE FROM sq.dml WHERE id = 21") == {
        "message": "1 of 1 record successfully deleted", "deleted_hashes": [21], "skipped_hashes": []}
    assert sql(worker, "DELETE FROM sq.dml WHERE id = 999") == {
        "message": "0 of 0 records successfully deleted", "deleted_hashes": [], "skipped_hashes": []}
    refused = client.op({"operation": "sql", "sql": "UPDATE sq.dml SET `a/b` = 1 WHERE id = 20"})
    assert (refused.status, refused.body) == (400, {"error": "Attribute names cannot include backticks or "
                                                            "forward slashes"})
    missing = client.op({"operation": "sql", "sql": "DELETE FROM sq.nope WHERE id = 1"})
    assert (missing.status, missing.body) == (500, {"error": "table sq.nope does not exist"})
    assert sql(worker, "SELECT id FROM sq.dml") == [{"id": 20}]


def test_dml_is_checked_against_the_roles_permissions(worker):
    client = worker.client
    client.ok({"operation": "create_table", "database": "sq", "table": "perm", "primary_key": "id"})
    client.ok({"operation": "insert", "database": "sq", "table": "perm", "records": [{"id": 1, "a": 1, "b": 2}]})
    client.ok({"operation": "add_role", "role": "sq_editor", "permission": {"super_user": False, "sq": {"tables": {
        "perm": {"read": True, "insert": False, "update": True, "delete": False, "attribute_permissions": [
            {"attribute_name": "a", "read": True, "insert": False, "update": True},
            {"attribute_name": "b", "read": True, "insert": False, "update": False}]}}}}})
    client.ok({"operation": "add_user", "role": "sq_editor", "username": "sq_user", "password": "pw",
               "active": True})
    editor = Client(client.url, "sq_user:pw")
    allowed = editor.op({"operation": "sql", "sql": "UPDATE sq.perm SET a = 5 WHERE id = 1"})
    assert allowed.status == 200 and allowed.body["update_hashes"] == [1]
    for statement, need in (("UPDATE sq.perm SET b = 5 WHERE id = 1", "update"),
                            ("INSERT INTO sq.perm (id, a) VALUES (2, 1)", "insert"),
                            ("DELETE FROM sq.perm WHERE id = 1", "delete")):
        denied = editor.op({"operation": "sql", "sql": statement})
        assert denied.status == 403, (statement, denied)
        assert need in json.dumps(denied.body["unauthorized_access"])
    assert sql(worker, "SELECT a, b FROM sq.perm") == [{"a": 5, "b": 2}]


def test_a_restricted_select_star_shows_and_exports_only_readable_attributes(worker, tmp_path):
    client = worker.client
    client.ok({"operation": "create_table", "database": "sq", "table": "secret", "primary_key": "id"})
    client.ok({"operation": "insert", "database": "sq", "table": "secret",
               "records": [{"id": 1, "public": "p", "hidden": "h"}]})
    client.ok({"operation": "add_role", "role": "sq_reader", "permission": {"super_user": False, "sq": {"tables": {
        "secret": {"read": True, "insert": False, "update": False, "delete": False, "attribute_permissions": [
            {"attribute_name": "public", "read": True, "insert": False, "update": False},
            {"attribute_name": "hidden", "read": False, "insert": False, "update": False}]}}}}})
    client.ok({"operation": "add_user", "role": "sq_reader", "username": "sq_reader", "password": "pw",
               "active": True})
    reader = Client(client.url, "sq_reader:pw")
    rows = reader.op({"operation": "sql", "sql": "SELECT * FROM sq.secret"})
    assert rows.status == 200 and [{k: v for k, v in r.items() if not k.startswith("__")} for r in rows.body] == [
        {"id": 1, "public": "p"}]
    named = reader.op({"operation": "sql", "sql": "SELECT hidden FROM sq.secret"})
    assert named.status == 403
    started = reader.op({"operation": "export_local", "format": "json", "path": str(tmp_path), "filename": "mine",
                         "search_operation": {"operation": "sql", "sql": "SELECT * FROM sq.secret"}})
    assert started.status == 200, started
    job = client.job(started.body["job_id"])
    assert job["status"] == "COMPLETE", job
    exported = json.loads((tmp_path / "mine.json").read_text())
    assert [{k: v for k, v in r.items() if not k.startswith("__")} for r in exported] == [{"id": 1, "public": "p"}]


def test_joins_name_repeated_columns_as_harper(worker):
    client = worker.client
    client.ok({"operation": "create_table", "database": "sq", "table": "owner", "primary_key": "id"})
    client.ok({"operation": "insert", "database": "sq", "table": "owner",
               "records": [{"id": 1, "name": "Kyle"}, {"id": 2, "name": "David"}]})
    joined = sql(worker, "SELECT m.id, m.name, o.id, o.name FROM sq.mix AS m INNER JOIN sq.owner AS o "
                         "ON m.id = o.id")
    assert joined == [{"id": 1, "name": "Penny", "id1": 1, "name1": "Kyle"},
                      {"id": 2, "name": "Harper", "id1": 2, "name1": "David"}]
    # one table's column named twice is shown once
    assert sql(worker, "SELECT id, * FROM sq.owner WHERE id = 1")[0].keys() == {
        "id", "__createdtime__", "__updatedtime__", "name"}


def test_no_duckdb_text_reaches_a_user(worker):
    for statement in ("SELECT nosuch(w) FROM sq.mix ORDER BY w", "SELECT m.zz FROM sq.mix m JOIN sq.mix x ON m.id = x.id"):
        answer = worker.client.op({"operation": "sql", "sql": statement})
        assert answer.status in (400, 500), answer
        text = json.dumps(answer.body)
        assert not any(word in text for word in ("Binder", "Catalog Error", "DuckDB", "duckdb", "LINE 1")), text


def test_an_export_that_needs_the_final_stage_writes_harpers_rows(worker, tmp_path):
    """ORDER BY ... LIMIT over a mixed column: the same rows, in the same order, as Harper exports."""
    job = worker.client.run_job({"operation": "export_local", "format": "json", "path": str(tmp_path),
                                 "filename": "top", "search_operation": {
                                     "operation": "sql", "sql": "SELECT id, w FROM sq.mix ORDER BY w DESC LIMIT 3"}})
    assert job["status"] == "COMPLETE", job
    assert json.loads((tmp_path / "top.json").read_text()) == [
        {"id": 6, "w": 100}, {"id": 1, "w": 55}, {"id": 8, "w": 55}]
