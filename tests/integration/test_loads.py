"""Loads end to end on a real broker and a real worker process: actions, typing, errors, restarts."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import RecordMetadata

from harness import CONFORMANCE, HeldSource, WorkerProcess, cli, unread_stdin, wait_until
from pipeline.jobs import events as jobs
from pipeline.kafka.broker import free_port

DOGS = CONFORMANCE / "data" / "dogs.csv"


@pytest.fixture(scope="module")
def worker(module_settings, tmp_path_factory):
    """One worker for the module's tests (each starts from an empty ``dev``: :func:`make_table`)."""
    process = WorkerProcess(module_settings, tmp_path_factory.mktemp("loads") / "worker.log").start()
    yield process
    process.stop()


def make_table(client, database="dev", table="dog", key="id"):
    """The table, in a database emptied of what an earlier test of the module left."""
    client.op({"operation": "drop_database", "database": database})
    client.ok({"operation": "create_table", "database": database, "table": table, "primary_key": key})


def rows(client, sql):
    return sorted(client.ok({"operation": "sql", "sql": sql}), key=lambda r: json.dumps(r, sort_keys=True))


def load(client, **op):
    op.setdefault("database", "dev")
    op.setdefault("table", "dog")
    return client.run_job(op)


def produce_raw(settings, value: bytes, key: bytes | None) -> RecordMetadata:
    async def send() -> RecordMetadata:
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
        await producer.start()
        try:
            return await producer.send_and_wait(settings.topic_prefix + "operations", value, key=key)
        finally:
            await producer.stop()
    return asyncio.run(send())


def read_topic(settings, name: str, count: int, timeout: float = 30) -> list:
    async def read() -> list:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            topic = settings.topic_prefix + name
            consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or {0}])
            found = []
            async def collect():
                async for msg in consumer:
                    found.append(msg)
                    if len(found) >= count:
                        return
            await asyncio.wait_for(collect(), timeout)
            return found
        finally:
            await consumer.stop()
    return asyncio.run(read())


def test_each_action_and_harpers_messages(worker, tmp_path):
    client = worker.client
    make_table(client)
    first = load(client, operation="csv_data_load", data="id,name,age\n1,a,3\n2,b,4\n")
    assert (first["status"], first["message"]) == ("COMPLETE", "successfully loaded 2 of 2 records")
    # insert skips existing keys; the M of "N of M" counts them
    again = load(client, operation="csv_data_load", action="insert", data="id,name\n2,changed\n3,c\n")
    assert again["message"] == "successfully loaded 1 of 2 records"
    # update merges into existing records and skips missing keys
    update = load(client, operation="csv_data_load", action="update", data="id,age\n1,30\n99,1\n")
    assert update["message"] == "successfully loaded 1 of 2 records"
    # upsert merges and inserts
    upsert = load(client, operation="csv_data_load", action="upsert", data="id,name\n3,c2\n4,d\n")
    assert upsert["message"] == "successfully loaded 2 of 2 records"
    found = {r["id"]: r for r in client.ok({"operation": "sql", "sql": "SELECT * FROM dev.dog"})}
    assert {k: (v["name"], v["age"]) for k, v in found.items()} == {
        1: ("a", 30), 2: ("b", 4), 3: ("c2", None), 4: ("d", None)}
    assert found[1]["__createdtime__"] < found[1]["__updatedtime__"]
    assert found[2]["__createdtime__"] == found[2]["__updatedtime__"]
    described = client.ok({"operation": "describe_table", "database": "dev", "table": "dog"})
    assert described["record_count"] == 4 and described["hash_attribute"] == "id"
    assert [a["attribute"] for a in described["attributes"]][:3] == ["id", "__createdtime__", "__updatedtime__"]


def test_typing_big_integers_and_generated_keys(worker):
    client = worker.client
    make_table(client)
    data = ("id,n,big,s,t,f,nul,empty,j\n"
            "1,007,9007199254740993,\"123\",true,False,NULL,,\"{\"\"a\"\":[1,2]}\"\n"
            ",-0,+5,1e3,TRUE,false,null,x,[1]\n")
    job = load(client, operation="csv_data_load", data=data)
    assert job["message"] == "successfully loaded 2 of 2 records"
    by_n = {r["n"]: r for r in client.ok({"operation": "sql", "sql": "SELECT * FROM dev.dog"})}
    first, second = by_n["007"], by_n[0]
    assert first["big"] == 9007199254740993 and first["s"] == 123
    assert (first["t"], first["f"], first["nul"], first["empty"]) == (True, "False", None, "")
    assert first["j"] == {"a": [1, 2]}
    assert (second["big"], second["s"], second["t"], second["f"], second["j"]) == (5, "1e3", True, False, [1])
    assert second["id"] == ""  # an empty key cell is the key "", as in Harper
    keyless = load(client, operation="csv_data_load", data="n\nkeyless\n")
    assert keyless["message"] == "successfully loaded 1 of 1 records"
    [generated] = [r for r in client.ok({"operation": "sql", "sql": "SELECT * FROM dev.dog"}) if r["n"] == "keyless"]
    assert isinstance(generated["id"], int)  # Harper generates numeric keys for untyped primary keys


def test_file_load_through_kafka_with_the_cli(worker):
    settings = worker.settings
    client = worker.client
    make_table(client)
    done = cli(settings, "submit", "--kafka", "--wait", json.dumps(
        {"operation": "csv_file_load", "database": "dev", "table": "dog", "file_path": str(DOGS)}))
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert record["status"] == "COMPLETE" and record["message"] == "successfully loaded 10 of 10 records"
    assert record["type"] == "csv_file_load"
    assert "written" in done.stderr  # the progress bar
    assert client.ok({"operation": "get_job", "id": record["id"]})[0]["message"] == record["message"]
    shown = cli(settings, "job", "--kafka", record["id"])
    assert json.loads(shown.stdout)[0]["status"] == "COMPLETE"


def test_the_cli_goes_through_the_api_when_it_is_up(worker):
    settings = worker.settings
    make_table(worker.client)
    op = json.dumps({"operation": "csv_file_load", "database": "dev", "table": "dog", "file_path": str(DOGS)})
    done = cli(settings, "submit", "--wait", op)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert (record["status"], record["user"]) == ("COMPLETE", settings.admin_username)
    assert json.loads(cli(settings, "job", record["id"]).stdout)[0]["id"] == record["id"]
    wrong = cli(dataclasses.replace(settings, admin_password="not-it"), "submit", op)
    assert wrong.returncode == 1 and "Login failed" in wrong.stderr  # the API checked the credentials
    answered = cli(settings, "submit", json.dumps({"operation": "describe_table", "database": "dev", "table": "dog"}))
    assert json.loads(answered.stdout)["record_count"] == 10


def test_a_failing_job_exits_non_zero(worker):
    settings = worker.settings
    make_table(worker.client)
    op = json.dumps({"operation": "csv_data_load", "database": "dev", "table": "nope", "data": "id\n1\n"})
    done = cli(settings, "submit", "--kafka", "--wait", op)
    assert done.returncode == 1
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert (record["status"], record["message"]) == ("ERROR", "Table 'dev.nope' does not exist")
    refused = cli(settings, "submit", "--wait", op)  # the API refuses it before there is a job
    assert refused.returncode == 1 and "Table 'dev.nope' does not exist" in refused.stderr


def test_raw_kafka_operations_and_the_dead_letter_topic(worker):
    settings = worker.settings
    client = worker.client
    make_table(client)
    garbage = b'{"operation": "csv_data_load", "data": "id\n1\n"'  # cut short
    bad_id = str(uuid.uuid4())
    produce_raw(settings, garbage, bad_id.encode())
    job_id = str(uuid.uuid4())
    produce_raw(settings, json.dumps({"operation": "csv_data_load", "database": "dev", "table": "dog",
                                      "data": "id,name\n1,a\n"}).encode(), job_id.encode())
    assert client.job(job_id)["message"] == "successfully loaded 1 of 1 records"  # the worker kept going
    failed = client.job(bad_id)
    assert failed["status"] == "ERROR" and "not valid JSON" in failed["message"]
    [dead] = read_topic(settings, "operations-dlq", 1)
    assert dead.value == garbage and dead.key == bad_id.encode()
    headers = dict(dead.headers)
    assert b"JSON" in headers["error"] and headers["source.topic"] == (settings.topic_prefix + "operations").encode()
    unknown = str(uuid.uuid4())
    produce_raw(settings, b'{"operation": "frobnicate"}', unknown.encode())
    assert client.job(unknown)["message"] == "Operation 'frobnicate' not found"
    # no key: the job's id comes from the message, so a redelivery of it is the same job
    where = produce_raw(settings, json.dumps({"operation": "csv_data_load", "database": "dev", "table": "dog",
                                              "data": "id,name\n2,b\n"}).encode(), None)
    job_id = jobs.job_id_of_message(where.topic, where.partition, where.offset, where.timestamp)
    assert client.job(job_id)["message"] == "successfully loaded 1 of 1 records"


@pytest.mark.parametrize("content, needle", [
    (b'id,name\n1,"unterminated\n2,b\n', "line 2"),
    (b"id,name\n1,caf\xc3\xa9\n2,caf\xe9\n", "line 3 (byte offset 21) is not valid UTF-8, though the lines before"),
    ("id,name\n1,café\n".encode("utf-16"), "the file is UTF-16"),
    (b"id,name\n1,\x00\x01\x02\x00\n", "binary"),
])
def test_broken_csv_files_end_the_job_in_error(worker, tmp_path, content, needle):
    client = worker.client
    make_table(client)
    path = tmp_path / "broken.csv"
    path.write_bytes(content)
    job = load(client, operation="csv_file_load", file_path=str(path))
    assert job["status"] == "ERROR" and needle in job["message"], job
    attributes = {a["attribute"] for a in client.ok({"operation": "describe_table", "database": "dev",
                                                     "table": "dog"})["attributes"]}
    assert "__parsed_extra" not in attributes


def test_file_paths_are_checked(worker, tmp_path):
    client = worker.client
    make_table(client)
    missing = client.op({"operation": "csv_file_load", "table": "dog", "database": "dev",
                         "file_path": str(tmp_path / "none.csv")})
    assert (missing.status, missing.body) == (400, {"error": f"No such file or directory {tmp_path / 'none.csv'}"})
    outside = client.op({"operation": "csv_file_load", "table": "dog", "database": "dev",
                         "file_path": "/etc/passwd"})
    assert outside.status == 400 and "/etc/passwd" not in json.dumps(client.ok(
        {"operation": "sql", "sql": "SELECT * FROM dev.dog"}))


def test_data_survives_a_worker_restart(settings, tmp_path):
    first = WorkerProcess(settings, tmp_path / "w1.log").start()
    try:
        make_table(first.client)
        assert load(first.client, operation="csv_file_load", file_path=str(DOGS))["status"] == "COMPLETE"
    finally:
        first.stop()
    second = WorkerProcess(settings, tmp_path / "w2.log").start()
    try:
        job = load(second.client, operation="csv_data_load", data="id,dog_name\n11,New\n1,Dup\n")
        assert job["message"] == "successfully loaded 1 of 2 records"
        ids = sorted(r["id"] for r in second.client.ok({"operation": "sql", "sql": "SELECT id FROM dev.dog"}))
        assert ids == list(range(1, 12))
    finally:
        second.stop()


def test_sync_writes_answer_like_harper(worker):
    client = worker.client
    make_table(client)
    assert client.ok({"operation": "insert", "database": "dev", "table": "dog",
                      "records": [{"id": 1, "name": "a"}, {"id": 2}]}) == {
        "message": "inserted 2 of 2 records", "inserted_hashes": [1, 2], "skipped_hashes": []}
    assert client.ok({"operation": "update", "database": "dev", "table": "dog",
                      "records": [{"id": 1, "name": "b"}, {"id": 5, "name": "x"}]}) == {
        "message": "updated 1 of 2 records", "update_hashes": [1], "skipped_hashes": [5]}
    assert client.ok({"operation": "upsert", "database": "dev", "table": "dog",
                      "records": [{"id": 1, "name": "c"}, {"id": 6}]}) == {
        "message": "upserted 2 of 2 records", "upserted_hashes": [1, 6]}
    assert client.ok({"operation": "delete", "database": "dev", "table": "dog", "hash_values": [1, 99]}) == {
        "message": "1 of 2 records successfully deleted", "deleted_hashes": [1], "skipped_hashes": [99]}


def test_two_workers_share_the_catalog_and_the_shards(settings, tmp_path):
    second_settings = dataclasses.replace(settings, data_dir=tmp_path / "var2", http_port=free_port())
    first = WorkerProcess(settings, tmp_path / "w1.log").start()
    second = WorkerProcess(second_settings, tmp_path / "w2.log").start()
    try:
        make_table(first.client)  # the catalog change reaches the other worker through the catalog topic
        job = load(second.client, operation="csv_file_load", file_path=str(DOGS))
        assert job["message"] == "successfully loaded 10 of 10 records"
        assert len(first.client.ok({"operation": "sql", "sql": "SELECT * FROM dev.dog"})) == 10
        assert first.client.ok({"operation": "get_job", "id": job["id"]})[0]["status"] == "COMPLETE"
        shard_dirs = [p for w in (settings, second_settings) for p in (w.data_dir / "shards").glob("*")]
        assert len(shard_dirs) >= 2  # the shards were written by both workers between them
    finally:
        second.stop()
        first.stop()


def test_get_job_finds_a_job_the_moment_it_is_answered(worker):
    make_table(worker.client)
    started_ids = []
    for _ in range(5):
        started = worker.client.ok({"operation": "csv_data_load", "database": "dev", "table": "dog",
                                    "data": "id\n1\n"})
        [found] = worker.client.ok({"operation": "get_job", "id": started["job_id"]})
        assert found["id"] == started["job_id"] and found["type"] == "csv_data_load"
        assert found["status"] in ("IN_PROGRESS", "COMPLETE")
        started_ids.append(started["job_id"])
    for job_id in started_ids:  # ended before the module's next test empties the table
        assert worker.client.job(job_id)["status"] == "COMPLETE"


def test_jobs_are_found_by_start_date(worker):
    settings = worker.settings
    make_table(worker.client)
    job = load(worker.client, operation="csv_data_load", data="id\n1\n")
    found = worker.client.ok({"operation": "search_jobs_by_start_date", "from_date": "2000-01-01",
                              "to_date": "2999-01-01"})
    [mine] = [j for j in found if j["id"] == job["id"]]
    assert mine["start_datetime_converted"].endswith("Z") and mine["status"] == "COMPLETE"
    assert "request" not in mine and not any(k.startswith("_") for k in mine)
    bad = worker.client.op({"operation": "search_jobs_by_start_date", "from_date": "soon", "to_date": "2999-01-01"})
    assert (bad.status, bad.body) == (400, {"error": "Invalid 'from' date, must be in ISO-8601 format (YYYY-MM-DD)."})
    listed = cli(settings, "jobs", "--from", "2000-01-01", "--to", "2999-01-01")
    assert job["id"] in {j["id"] for j in json.loads(listed.stdout)}


def test_a_finished_job_delivered_again_is_not_run_again(worker):
    settings = worker.settings
    client = worker.client
    make_table(client)
    job_id = str(uuid.uuid4())
    op = {"operation": "csv_data_load", "action": "upsert", "database": "dev", "table": "dog"}
    produce_raw(settings, json.dumps({**op, "data": "id,name\n3,first\n"}).encode(), job_id.encode())
    assert client.job(job_id)["message"] == "successfully loaded 1 of 1 records"
    # the same job's message again (as after a consumer rebalance), here with other data to make a rerun visible
    produce_raw(settings, json.dumps({**op, "data": "id,name\n3,second\n"}).encode(), job_id.encode())
    wait_until(lambda: f'"a finished job was delivered again; it is not run again" job_id={job_id}'
               in worker.log_text(), "sign of the second delivery", timeout=60)
    assert rows(client, "SELECT id, name FROM dev.dog") == [{"id": 3, "name": "first"}]


def parse_processes(worker) -> list[int]:
    children = (Path("/proc") / str(worker.proc.pid) / "task" / str(worker.proc.pid) / "children").read_text()
    return [int(pid) for pid in children.split()
            if b"pipeline.parsing.child" in (Path("/proc") / pid / "cmdline").read_bytes()]


def test_a_parse_process_that_dies_mid_load_ends_the_job_and_the_next_load_gets_another(worker):
    source = HeldSource()
    try:
        make_table(worker.client)
        job_id = worker.client.ok({"operation": "csv_url_load", "database": "dev", "table": "dog",
                                   "csv_url": f"{source.url}/held.csv"})["job_id"]
        assert source.stalled.acquire(timeout=60)  # the load is under way
        [pid] = wait_until(lambda: parse_processes(worker), "the worker's parse process")
        os.kill(pid, signal.SIGSTOP)
        source.release.set()  # the rest of the file comes; its blocks wait in the stopped process's stdin
        wait_until(lambda: unread_stdin(pid) > 0, "a block sent to the parse process")
        os.kill(pid, signal.SIGKILL)
        job = worker.client.job(job_id, timeout=60)
        assert job["status"] == "ERROR", job
        assert job["message"] == (f"csv_url_load failed: the parse process (pid {pid}) was killed by signal SIGKILL "
                                  "while it parsed this load's rows; the load stopped there and can be run again")
        # the worker serves on, and the next load's blocks go to a new parse process
        again = load(worker.client, operation="csv_file_load", file_path=str(DOGS))
        assert again["status"] == "COMPLETE", again
        assert parse_processes(worker) and pid not in parse_processes(worker)
    finally:
        source.close()
