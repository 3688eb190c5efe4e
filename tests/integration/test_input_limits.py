"""Inputs that are not ordinary files or sizes: FIFOs and sockets, huge bodies, wide files, huge cells, deep nesting."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import urllib.request
import uuid
from pathlib import Path

import pytest

from harness import WorkerProcess, read_everything
from pipeline.contract.answers import not_a_regular_file
from test_loads import produce_raw

MAX_ATTRIBUTES = 30_000
MAX_BODY = 24 * 1024 ** 2
MAX_JSON_BODY = 20 * 1024 ** 2


@pytest.fixture(scope="module")
def worker(module_settings, tmp_path_factory):
    # one shard: every record of a write goes into the same shard's commands
    settings = dataclasses.replace(module_settings, shard_partitions=1, max_attributes=MAX_ATTRIBUTES,
                                   max_body_bytes=MAX_BODY, max_json_body_bytes=MAX_JSON_BODY)
    process = WorkerProcess(settings, tmp_path_factory.mktemp("logs") / "worker.log").start()
    process.client.ok({"operation": "create_table", "database": "lim", "table": "t", "primary_key": "id"})
    yield process
    process.stop()


def peak_rss_mb(worker) -> float:
    """The worker process's peak resident memory (VmHWM) since :func:`reset_peak_rss`, in MB."""
    status = (Path("/proc") / str(worker.proc.pid) / "status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def reset_peak_rss(worker) -> None:
    (Path("/proc") / str(worker.proc.pid) / "clear_refs").write_text("5")


@pytest.fixture
def fifo(module_settings):
    path = module_settings.allowed_dirs[0] / f"fifo-{uuid.uuid4().hex[:6]}.csv"
    os.mkfifo(path)
    yield path
    with contextlib.suppress(OSError):  # a reader stuck in open() (the bug) gets its end of file
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    path.unlink()


def answers_quickly(worker) -> bool:
    """The API answers another operation within a few seconds (urllib's own timeout, no sleep)."""
    request = urllib.request.Request(worker.client.url, data=b'{"operation":"describe_all"}', method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": worker.client.auth})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status == 200


def test_a_fifo_or_a_socket_is_refused_and_the_worker_keeps_answering(worker, fifo, module_settings):
    answer = worker.client.op({"operation": "csv_file_load", "database": "lim", "table": "t", "file_path": str(fifo)})
    assert answer.status == 400 and answer.body == {"error": not_a_regular_file(str(fifo))}
    assert answers_quickly(worker)
    sock_path = module_settings.allowed_dirs[0] / "sock.csv"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(sock_path))
        answer = worker.client.op({"operation": "csv_file_load", "database": "lim", "table": "t",
                                   "file_path": str(sock_path)})
    sock_path.unlink()
    assert answer.status == 400 and "not a regular file" in answer.body["error"]


def test_a_fifo_that_reaches_the_job_ends_it_in_error(worker, fifo):
    """Produced straight to the topic, the path is only checked by the job: it ends ERROR, nothing freezes."""
    job_id = str(uuid.uuid4())
    produce_raw(worker.settings, json.dumps({"operation": "csv_file_load", "database": "lim", "table": "t",
                                             "file_path": str(fifo)}).encode(), job_id.encode())
    assert answers_quickly(worker)
    job = worker.client.job(job_id, timeout=30)
    assert job["status"] == "ERROR" and "not a regular file" in job["message"], job


# ---- wide files -------------------------------------------------------------------------------------------
def wide_csv(columns: int, rows: int) -> str:
    header = "id," + ",".join(f"c{i}" for i in range(columns - 1))
    return header + "\n" + "".join(f"{r}," + ",".join(str(r * i) for i in range(columns - 1)) + "\n"
                                   for r in range(1, rows + 1))


def test_a_file_with_20000_columns_registers_them_together(worker):
    client = worker.client
    client.ok({"operation": "create_table", "database": "lim", "table": "wide", "primary_key": "id"})
    job = client.run_job({"operation": "csv_data_load", "database": "lim", "table": "wide",
                          "data": wide_csv(20_000, 3)})
    assert job["message"] == "successfully loaded 3 of 3 records", job
    described = client.ok({"operation": "describe_table", "database": "lim", "table": "wide"})
    assert len(described["attributes"]) == 20_000 + 2 and described["record_count"] == 3
    [row] = client.ok({"operation": "search_by_hash", "database": "lim", "table": "wide", "hash_values": [2],
                       "get_attributes": ["c0", "c19998"]})
    assert row == {"c0": 0, "c19998": 2 * 19_998}


def test_a_file_wider_than_the_limit_ends_in_error_naming_it(worker):
    client = worker.client
    client.ok({"operation": "create_table", "database": "lim", "table": "wider", "primary_key": "id"})
    job = client.run_job({"operation": "csv_data_load", "database": "lim", "table": "wider",
                          "data": wide_csv(MAX_ATTRIBUTES + 1, 1)})
    assert job["status"] == "ERROR", job
    assert job["message"] == (f"table 'lim.wider' would have {MAX_ATTRIBUTES + 3} attributes, more than the limit "
                              f"of {MAX_ATTRIBUTES} (PIPELINE_MAX_ATTRIBUTES)")
    described = client.ok({"operation": "describe_table", "database": "lim", "table": "wider"})
    assert len(described["attributes"]) == 3 and described["record_count"] == 0


# ---- deep and large values --------------------------------------------------------------------------------
def test_a_value_nested_1000_levels_deep_is_refused_with_the_limit(worker):
    deep = '{"a":' * 1000 + "1" + "}" * 1000
    answer = worker.client.raw(('{"operation":"insert","database":"lim","table":"t","records":[{"id":1,"deep":%s}]}'
                                % deep).encode())
    assert answer.status == 400 and answer.body == {
        "error": "'records[0].deep': the value is nested more than 100 levels deep (the most a value may nest)"}
    fine = '{"a":' * 99 + "1" + "}" * 99
    assert worker.client.raw(('{"operation":"insert","database":"lim","table":"t","records":[{"id":2,"deep":%s}]}'
                              % fine).encode()).status == 200
    cell = "[" * 1000 + "]" * 1000
    job = worker.client.run_job({"operation": "csv_data_load", "database": "lim", "table": "t",
                                 "data": f"id,deep\n3,ok\n4,{cell}\n"})
    assert job["status"] == "ERROR" and job["message"] == (
        "line 3, column 'deep': the value is nested more than 100 levels deep (the most a value may nest)"), job


def test_records_too_large_for_one_command_are_split_and_one_too_large_is_refused(worker):
    """18 records of 1 MB for one shard: three commands (one would pass the broker's 16 MB message limit)."""
    records = [{"id": 100 + i, "blob": f"{i:07d}" * (1024 ** 2 // 7)} for i in range(18)]
    answer = worker.client.op({"operation": "insert", "database": "lim", "table": "t", "records": records})
    assert answer.status == 200 and answer.body["message"] == "inserted 18 of 18 records", answer
    [stored] = worker.client.ok({"operation": "search_by_hash", "database": "lim", "table": "t", "hash_values": [117],
                                 "get_attributes": ["blob"]})
    assert stored["blob"] == records[17]["blob"]
    huge = {"id": 200, "blob": "x" * (9 * 1024 ** 2)}
    answer = worker.client.op({"operation": "insert", "database": "lim", "table": "t", "records": [huge]})
    assert answer.status == 400 and "more than the limit of 8388608 bytes (PIPELINE_MAX_RECORD_BYTES)" in \
        answer.body["error"], answer


def test_a_200_mb_cell_ends_the_job_naming_the_line_and_memory_stays_bounded(worker, module_settings):
    reset_peak_rss(worker)
    path = module_settings.allowed_dirs[0] / "huge-cell.csv"
    with open(path, "wb") as out:
        out.write(b"id,text\n1,small\n2,")
        for _ in range(200):
            out.write(b"x" * 1024 ** 2)
        out.write(b"\n3,after\n")
    try:
        job = worker.client.run_job({"operation": "csv_file_load", "database": "lim", "table": "t",
                                     "file_path": str(path)})
    finally:
        path.unlink()
    assert job["status"] == "ERROR" and job["message"] == (
        "line 3: the record is larger than the limit of 8388608 bytes (PIPELINE_MAX_RECORD_BYTES)"), job
    assert answers_quickly(worker)
    assert peak_rss_mb(worker) < 300


# ---- large bodies -----------------------------------------------------------------------------------------
def all_jobs(worker) -> list:
    return worker.client.ok({"operation": "search_jobs_by_start_date", "from_date": "2000-01-01",
                             "to_date": "2999-01-01"})


def test_a_csv_data_load_larger_than_a_kafka_message_loads_with_memory_bounded(worker):
    """20 MB of data, more than the 16 MiB the producer may send at once: it travels as chunks."""
    worker.client.ok({"operation": "create_table", "database": "lim", "table": "big", "primary_key": "id"})
    data = "id,text,note\n" + "".join(f'{i},"{i}é ""quoted"", {"x" * 2000}",😀\n' for i in range(10_000))
    assert len(data.encode()) > 16 * 1024 ** 2
    reset_peak_rss(worker)
    job = worker.client.run_job({"operation": "csv_data_load", "database": "lim", "table": "big", "data": data})
    assert job["message"] == "successfully loaded 10000 of 10000 records", job
    [row] = worker.client.ok({"operation": "search_by_hash", "database": "lim", "table": "big", "hash_values": [9999],
                              "get_attributes": ["text", "note"]})
    assert row == {"text": f'9999é "quoted", {"x" * 2000}', "note": "😀"}
    assert peak_rss_mb(worker) < 300


def test_a_body_over_a_limit_or_not_json_is_refused_and_leaves_no_job(worker):
    before = len(all_jobs(worker))
    too_big = {"operation": "csv_data_load", "database": "lim", "table": "t", "data": "id\n" + "1\n" * (MAX_BODY // 2)}
    answer = worker.client.op(too_big)
    assert answer.status == 413 and answer.body["error"].startswith("Request body is too large") \
        and f"more than the limit of {MAX_BODY} bytes (PIPELINE_MAX_BODY_BYTES)" in answer.body["error"], answer
    insert = {"operation": "insert", "database": "lim", "table": "t",
              "records": [{"id": 300 + i, "blob": "y" * 1024 ** 2} for i in range(21)]}
    answer = worker.client.op(insert)
    assert answer.status == 413 and "(PIPELINE_MAX_JSON_BODY_BYTES)" in answer.body["error"], answer
    bad_escape = json.dumps({"operation": "csv_data_load", "database": "lim", "table": "t",
                             "data": "id\n" + "2\n" * 3 * 1024 ** 2}).replace("2\\n", "2\\q", 1).encode()
    answer = worker.client.raw(bad_escape)
    assert answer.status == 400 and answer.body == {"error": "Invalid JSON."}, answer
    no_table = {"operation": "csv_data_load", "database": "lim", "table": "none", "data": "id\n" + "3\n" * 1024 ** 2}
    answer = worker.client.op(no_table)
    assert answer.status == 400 and answer.body == {"error": "Table 'lim.none' does not exist"}, answer
    assert len(all_jobs(worker)) == before
    assert answers_quickly(worker)


def test_an_envelope_whose_data_reference_is_broken_goes_to_the_dead_letter_topic(worker):
    job_id = str(uuid.uuid4())
    envelope = {"job_id": job_id, "user": None, "data": {"partition": "x"},
                "request": {"operation": "csv_data_load", "database": "lim", "table": "t"}}
    produce_raw(worker.settings, json.dumps(envelope).encode(), job_id.encode())
    job = worker.client.job(job_id, timeout=30)
    assert job["status"] == "ERROR" and "'data' is not a reference to a job's data chunks" in job["message"], job
    dead = read_everything(worker.settings, "operations-dlq")
    assert any(job_id.encode() in value for value in dead)
