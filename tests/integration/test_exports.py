"""Exports, searches and deletes end to end: a real worker, real files."""
from __future__ import annotations

import json
import random

import fastavro
import pytest

from harness import WorkerProcess, read_everything
from pipeline.records import ShardCommand

RECORDS = [
    {"id": 1, "name": 'a, "quoted"', "tags": ["x", 1], "n": 2.5, "ok": True, "none": None, "owner": {"city": "Oslo"}},
    {"id": 2, "name": "line\nbreak", "tags": [], "n": 10, "ok": False, "none": None, "owner": None},
    {"id": 3, "name": "Zed", "n": -1, "ok": True},
]
COLUMNS = ["id", "name", "tags", "n", "ok", "none", "owner"]


@pytest.fixture(scope="module")
def worker(module_settings, tmp_path_factory):
    process = WorkerProcess(module_settings, tmp_path_factory.mktemp("logs") / "worker.log").start()
    client = process.client
    client.ok({"operation": "create_table", "database": "exp", "table": "t", "primary_key": "id"})
    client.ok({"operation": "insert", "database": "exp", "table": "t", "records": RECORDS})
    rnd = random.Random(3)
    client.ok({"operation": "create_table", "database": "exp", "table": "scores", "primary_key": "id"})
    scores = [{"id": i, "v": rnd.randint(0, 10_000), "group": f"g{i % 3}", "word": rnd.choice(["ab", "bc", "cd"])}
              for i in range(1, 301)]
    client.ok({"operation": "insert", "database": "exp", "table": "scores", "records": scores})
    process.scores = scores
    yield process
    process.stop()


def export(client, tmp_path, fmt, search, **extra):
    op = {"operation": "export_local", "format": fmt, "path": str(tmp_path), "filename": "out",
          "search_operation": search, **extra}
    return client.run_job(op)


FIXED = {"operation": "search_by_hash", "database": "exp", "table": "t", "hash_values": [1, 2, 3],
         "get_attributes": COLUMNS}


def test_json_byte_for_byte(worker, tmp_path):
    job = export(worker.client, tmp_path, "json", FIXED)
    assert job["result"] == {"message": "Successfully exported JSON locally.", "path": str(tmp_path / "out.json")}
    assert job["message"] == f"Successfully completed job: {job['id']}"
    assert (tmp_path / "out.json").read_bytes() == (
        b'[{"id":1,"name":"a, \\"quoted\\"","tags":["x",1],"n":2.5,"ok":true,"none":null,"owner":{"city":"Oslo"}},'
        b'{"id":2,"name":"line\\nbreak","tags":[],"n":10,"ok":false,"none":null,"owner":null},'
        b'{"id":3,"name":"Zed","tags":null,"n":-1,"ok":true,"none":null,"owner":null}]')


def test_csv_byte_for_byte(worker, tmp_path):
    job = export(worker.client, tmp_path, "csv", FIXED)
    assert job["result"]["message"] == "Successfully exported CSV locally."
    assert (tmp_path / "out.csv").read_bytes() == (
        b'"id","name","tags","n","ok","none","owner"\n'
        b'1,"a, ""quoted""","[""x"",1]",2.5,true,,"{""city"":""Oslo""}"\n'
        b'2,"line\nbreak","[]",10,false,,\n'
        b'3,"Zed",,-1,true,,')


def test_ndjson_and_avro(worker, tmp_path):
    export(worker.client, tmp_path, "ndjson", FIXED)
    lines = (tmp_path / "out.ndjson").read_bytes().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [1, 2, 3]
    job = export(worker.client, tmp_path, "avro", FIXED)
    assert job["status"] == "COMPLETE"
    with open(tmp_path / "out.avro", "rb") as stream:
        rows = list(fastavro.reader(stream))
    assert [(r["id"], r["name"], r["n"], r["ok"]) for r in rows] == [
        (1, 'a, "quoted"', 2.5, True), (2, "line\nbreak", 10.0, False), (3, "Zed", -1.0, True)]
    assert json.loads(rows[0]["owner"]) == {"city": "Oslo"}


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_an_export_of_every_attribute_in_key_order_has_every_attribute_of_the_table_in_order(worker, tmp_path, fmt):
    """``*`` in key order: the shards project the rows and the export writes their bytes as they come; a row
    stored with other attributes, in another order or with nested values, comes out as the search shows it."""
    search = {"operation": "search_by_value", "database": "exp", "table": "t", "search_attribute": "id",
              "search_value": "*", "get_attributes": ["*"], "offset": 1}
    names = ["id", "__createdtime__", "__updatedtime__", "n", "name", "none", "ok", "owner", "tags"]
    shown = worker.client.ok(search)
    assert [list(row) for row in shown] == [names, names]
    export(worker.client, tmp_path, fmt, search)
    text = (tmp_path / f"out.{fmt}").read_bytes()
    if fmt == "csv":
        lines = text.split(b"\n")
        assert lines[0] == b",".join(b'"%s"' % n.encode() for n in names)
        times = [json.dumps(shown[1][name]).encode() for name in ("__createdtime__", "__updatedtime__")]
        assert lines[-1] == b'3,%s,%s,-1,"Zed",,true,,' % tuple(times)
        return
    rows = json.loads(text, object_pairs_hook=list) if fmt == "json" else [
        json.loads(line, object_pairs_hook=list) for line in text.splitlines()]
    assert rows == [list(row.items()) for row in shown]


def load_csv(client, tmp_path, table: str, text: str) -> None:
    """A new table ``exp.<table>`` loaded from a CSV file of ``text``."""
    client.ok({"operation": "create_table", "database": "exp", "table": table, "primary_key": "id"})
    source = tmp_path / "rows.csv"
    source.write_text(text)
    assert client.run_job({"operation": "csv_file_load", "database": "exp", "table": table,
                           "file_path": str(source)})["status"] == "COMPLETE"


def test_a_load_declares_the_members_its_rows_share_and_an_export_of_every_attribute_stays_exact(worker, tmp_path):
    """Every row of a CSV has its header: each of the load's commands says so, and the shards pass those rows
    as stored; a row written later without one of them is shown with it null, as before."""
    client = worker.client
    load_csv(client, tmp_path, "shaped", "id,w,v\n" + "".join(f"{i},{'' if i % 7 else 'x'},{i * 2}\n"
                                                               for i in range(1, 1201)))
    client.ok({"operation": "insert", "database": "exp", "table": "shaped", "records": [{"id": 5000, "v": 1}]})
    commands = [ShardCommand.decode(value) for value in read_everything(worker.settings, "shard-log")]
    names = ["id", "__createdtime__", "__updatedtime__", "v", "w"]
    declared = [c.names for c in commands if c.kind == "WRITE_BATCH" and c.table == "shaped"]
    assert declared.count(names) >= 2 and set(map(tuple, declared)) == {tuple(names), tuple(names[:4])}
    search = {"operation": "search_by_value", "database": "exp", "table": "shaped", "search_attribute": "id",
              "search_value": "*", "get_attributes": ["*"]}
    export(client, tmp_path, "json", search)
    rows = json.loads((tmp_path / "out.json").read_bytes(), object_pairs_hook=list)
    assert [[name for name, _ in row] for row in rows] == [names] * 1201
    assert [(row[0][1], row[3][1], row[4][1]) for row in rows] == \
        [(i, i * 2, "" if i % 7 else "x") for i in range(1, 1201)] + [(5000, 1, None)]


def test_an_export_right_after_a_load_has_every_record(worker, tmp_path):
    client = worker.client
    load_csv(client, tmp_path, "fresh", "id,v\n" + "".join(f"{i},{i * 2}\n" for i in range(1, 3001)))
    export(client, tmp_path, "json", {"operation": "sql", "sql": "SELECT id, v FROM exp.fresh"})
    rows = json.loads((tmp_path / "out.json").read_text())
    assert [r["id"] for r in rows] == list(range(1, 3001))  # all of them, in key order across shards


def test_searches(worker):
    client = worker.client

    def ask(**op):
        return client.ok({"database": "exp", "table": "t", **op})

    assert [r["id"] for r in ask(operation="search_by_hash", hash_values=[3, 99, 1], get_attributes=["id"])] == [3, 1]
    assert ask(operation="search_by_value", search_attribute="name", search_value="Z*",
               get_attributes=["id", "tags"]) == [{"id": 3, "tags": None}]  # null where the record lacks it
    unknown = client.op({"operation": "search_by_value", "database": "exp", "table": "t", "search_attribute": "name",
                         "search_value": "x", "get_attributes": ["nope"]})
    assert (unknown.status, unknown.body) == (400, {"error": "unknown attribute 'nope'"})
    assert [r["id"] for r in ask(operation="search_by_value", search_attribute="name", search_value="*quoted*",
                                 get_attributes=["id"])] == [1]
    assert [r["id"] for r in ask(operation="search_by_value", search_attribute="name", search_value="*",
                                 get_attributes=["id"])] == [3, 1, 2]  # in the order of the values: "Zed" < "a, ..." < "line..."
    found = ask(operation="search_by_conditions", operator="or", get_attributes=["id"], conditions=[
        {"search_attribute": "n", "search_type": "between", "search_value": [0, 5]},
        {"operator": "and", "conditions": [{"search_attribute": "ok", "search_type": "equals", "search_value": True},
                                           {"search_attribute": "n", "search_type": "less_than", "search_value": 0}]}])
    assert [r["id"] for r in found] == [1, 3]
    paged = ask(operation="search_by_conditions", get_attributes=["id", "n"], sort={"attribute": "n", "descending": True},
                offset=1, limit=1, conditions=[{"search_attribute": "n", "search_type": "greater_than", "search_value": -5}])
    assert paged == [{"id": 1, "n": 2.5}]
    bad = client.op({"operation": "search_by_conditions", "database": "exp", "table": "t",
                     "conditions": [{"search_attribute": "n", "search_type": "like", "search_value": 1}]})
    assert (bad.status, bad.body) == (400, {"error": 'Unknown query comparator "like"'})


def test_sql_pushdown_and_the_final_stage(worker):
    client = worker.client
    scores = worker.scores
    top = client.ok({"operation": "sql", "sql": "SELECT id, v FROM exp.scores ORDER BY v DESC, id LIMIT 5"})
    expected = sorted(scores, key=lambda r: (-r["v"], r["id"]))[:5]
    assert top == [{"id": r["id"], "v": r["v"]} for r in expected]  # the global top 5 across every shard
    groups = client.ok({"operation": "sql", "sql": "SELECT `group`, COUNT(*) AS n, MAX(v) AS top FROM exp.scores "
                                                   "WHERE word = 'ab' GROUP BY `group` ORDER BY `group`"})
    assert groups == [{"group": g, "n": len(vs), "top": max(vs)} for g, vs in sorted(
        {g: [r["v"] for r in scores if r["group"] == g and r["word"] == "ab"] for g in ("g0", "g1", "g2")}.items())]
    assert client.ok({"operation": "sql", "sql": "SELECT count(*) FROM exp.scores"}) == [{"COUNT(*)": 300}]
    joined = client.ok({"operation": "sql", "sql": "SELECT s.id, t.name FROM exp.scores s JOIN exp.t t ON s.id = t.id "
                                                   "ORDER BY s.id"})
    assert joined == [{"id": 1, "name": 'a, "quoted"'}, {"id": 2, "name": "line\nbreak"}, {"id": 3, "name": "Zed"}]
    refused = client.op({"operation": "sql", "sql": "DROP TABLE exp.scores"})
    assert (refused.status, refused.body) == (
        400, {"error": "Only SELECT, INSERT, UPDATE and DELETE statements are supported here, not DROP"})
    missing = client.op({"operation": "sql", "sql": "SELECT * FROM exp.nope"})
    assert (missing.status, missing.body) == (404, {"error": "Table 'exp.nope' does not exist"})


@pytest.mark.parametrize("change, message", [
    ({"format": "xml"}, "format invalid. must be one of the following values: json, csv"),
    ({"search_operation": None}, "search_operation.operation missing"),
    ({"path": None}, "path is missing."),
    ({"path": "{tmp}/absent"}, "path '{tmp}/absent' does not exist"),
    ({"path": "{tmp}/file.txt"}, "is not a directory"),
    ({"path": "/etc"}, "access to path '/etc' is denied"),
    ({"search_operation": {"operation": "sql", "sql": "SELECT * FROM exp.t WHERE ("}}, "line 1, column"),
])
def test_export_errors_leave_no_file(worker, tmp_path, change, message):
    (tmp_path / "file.txt").write_text("not a directory")
    op = {"operation": "export_local", "format": "json", "path": str(tmp_path), "filename": "out",
          "search_operation": {"operation": "sql", "sql": "SELECT * FROM exp.t"}}
    op.update({k: (v.replace("{tmp}", str(tmp_path)) if isinstance(v, str) else v) for k, v in change.items()})
    op = {k: v for k, v in op.items() if v is not None}
    job = worker.client.run_job(op)
    assert job["status"] == "ERROR" and message.replace("{tmp}", str(tmp_path)) in job["message"], job
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_delete_records_before(worker):
    client = worker.client
    client.ok({"operation": "create_table", "database": "exp", "table": "old", "primary_key": "id"})
    client.ok({"operation": "insert", "database": "exp", "table": "old", "records": [{"id": i} for i in range(5)]})
    kept = client.run_job({"operation": "delete_records_before", "date": "2001-01-01", "schema": "exp", "table": "old"})
    assert kept["message"] == "No records found to delete"
    gone = client.run_job({"operation": "delete_records_before", "date": "2999-01-01T00:00:00Z", "database": "exp",
                           "table": "old"})
    assert gone["message"] == "5 of 5 records successfully deleted"
    assert client.ok({"operation": "sql", "sql": "SELECT * FROM exp.old"}) == []
    bad = client.op({"operation": "delete_records_before", "date": "yesterday", "table": "old"})
    assert (bad.status, bad.body) == (400, {"error": "'date' must be in ISO 8601 date format"})
