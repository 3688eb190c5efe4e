"""A job whose worker dies is taken over by another worker: a load resumes from its last checkpoint, an export
runs again; and the splitter never runs far ahead of the shard writers.

The loads here read from a real HTTP server that sends the first part of the
body and then stalls, so the first worker is surely in the middle of the
load (past a few checkpoints) when it is killed. The worker that takes over
downloads the source again and carries on from the checkpoint; a source that
cannot be read again ends the job with a message that says so.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import time
from typing import Iterator

import boto3
import pytest

from harness import HELD_ROWS as ROWS, HeldSource, S3Proxy, WorkerProcess, job_events, read_everything, wait_until
from test_loads import produce_raw
from pipeline import codec
from pipeline.kafka.broker import free_port
from pipeline.records import ShardCommand, WriteRows
from pipeline.shard import routing


@pytest.fixture
def source():
    held = HeldSource(once=("/once.csv",))
    yield held
    held.close()


def checkpoint_in_record(settings, job_id: str, parsed: int) -> dict | None:
    """The job's checkpoint after ``parsed`` records, once its record in the ``jobs`` topic holds it."""
    for value in read_everything(settings, "jobs"):
        if job_id.encode() in value and json.loads(value).get("_resume", {}).get("parsed") == parsed:
            return json.loads(value)["_resume"]
    return None


def commands_of(settings, job_id: str) -> list[tuple[int, int]]:
    """(shard, seq) of every command of the job in ``shard-log``, in log order per shard."""
    commands = [dataclasses.asdict(ShardCommand.decode(value)) for value in read_everything(settings, "shard-log")]
    return [(shard_of(c, settings.shard_partitions), c["seq"]) for c in commands
            if c["job_id"] == job_id and c["kind"] == "WRITE_BATCH"]


def shard_of(command: dict, shards: int) -> int:
    key = WriteRows.unpack(command["payload"], command["primary_key"]).keys[0]
    return routing.shard_of(routing.table_crc(command["database"], command["table"]), key, shards)


def test_a_load_is_resumed_from_its_checkpoint_by_the_worker_that_takes_it_over(settings, tmp_path, source):
    server = source.url
    settings = dataclasses.replace(settings, batch_size=200, checkpoint_batches=10)
    first = WorkerProcess(settings, tmp_path / "first.log").start()
    first.client.ok({"operation": "create_table", "database": "re", "table": "dog", "primary_key": "id"})
    again = first.client.ok({"operation": "csv_url_load", "database": "re", "table": "dog",
                             "csv_url": f"{server}/again.csv"})["job_id"]
    first.client.ok({"operation": "create_table", "database": "re", "table": "cat", "primary_key": "id"})
    once = first.client.ok({"operation": "csv_url_load", "database": "re", "table": "cat",
                            "csv_url": f"{server}/once.csv"})["job_id"]
    for _ in range(2):
        assert source.stalled.acquire(timeout=60)
    for job_id in (again, once):
        checkpoint = wait_until(lambda: checkpoint_in_record(settings, job_id, 6000), "checkpoint at 6000")
        # the first worker goes on past its checkpoint: what it sends after it will be sent again
        wait_until(lambda: any(seq >= checkpoint["commands"][shard] for shard, seq in commands_of(settings, job_id)),
                   "command past the checkpoint")
    first.kill()
    source.release.set()

    second = WorkerProcess(dataclasses.replace(settings, data_dir=tmp_path / "second", http_port=free_port()),
                           tmp_path / "second.log").start()
    try:
        job = second.client.job(again, timeout=180)
        assert job["status"] == "COMPLETE", job
        assert job["message"] == f"successfully loaded {ROWS} of {ROWS} records"

        events = job_events(settings, again)
        resumed = [ev for ev in events if ev["event"] == "RESUMED"]
        assert len(resumed) == 1 and resumed[0]["worker"] != events[0]["worker"]  # the hand-over
        checkpoint = codec.loads(resumed[0]["detail"])["checkpoint"]
        assert checkpoint["parsed"] == 6000
        sent = commands_of(settings, again)
        assert len(set(sent)) < len(sent)  # some commands were sent by both workers, and applied once
        assert resumed[0]["message"] == (f"resuming from line {checkpoint['parsed'] + 2} of the source, "
                                         f"after {checkpoint['parsed']} records")
        # the worker that took over read on from the checkpoint, not from the beginning
        assert all(ev["parsed"] > checkpoint["parsed"] for ev in events
                   if ev["event"] == "SPLIT_PROGRESS" and ev["worker"] == resumed[0]["worker"])

        failed = second.client.job(once, timeout=180)
        assert failed["status"] == "ERROR"
        assert failed["message"].startswith("the worker running this job stopped; another worker took the job "
                                            "over to resume it from line ")
        assert failed["message"].endswith(f"but could not read its source again: CSV Load failed from URL: "
                                          f"{server}/once.csv, status code: 404, message: Not Found")

        out = second.client.run_job({"operation": "export_local", "format": "json", "path": str(tmp_path),
                                     "filename": "dogs", "search_operation": {
                                         "operation": "sql", "sql": "SELECT id, name, n FROM re.dog"}})
        assert out["status"] == "COMPLETE", out
        rows = json.loads((tmp_path / "dogs.json").read_text())
        # every row once: none lost, none loaded twice under a second generated key
        assert sorted(row["n"] for row in rows) == list(range(ROWS))
        assert all(row["name"] == f"dog {row['n']}" for row in rows)
        assert len({row["id"] for row in rows}) == ROWS
    finally:
        first.kill()
        second.stop()


def test_a_job_delivered_again_while_it_runs_is_not_run_twice(settings, tmp_path, source):
    """After a rebalance the message of a job still running is delivered again (issue #19: two runs of one
    export in one worker shared its spill files): here the same message, produced again while the load runs."""
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        client = worker.client
        client.ok({"operation": "create_table", "database": "re", "table": "dog", "primary_key": "id"})
        job_id = client.ok({"operation": "csv_url_load", "database": "re", "table": "dog",
                            "csv_url": f"{source.url}/held.csv"})["job_id"]
        assert source.stalled.acquire(timeout=60)  # the job is running: its source holds the rest of the body
        [message] = [value for value in read_everything(settings, "operations") if job_id.encode() in value]
        produce_raw(settings, message, job_id.encode())
        wait_until(lambda: f"delivered again; it is not run twice\" job_id={job_id}" in worker.log_text()
                   or source.requests["/held.csv"] > 1, "the second delivery", timeout=60)
        source.release.set()
        job = client.job(job_id, timeout=120)
        assert job["message"] == f"successfully loaded {ROWS} of {ROWS} records", job
        assert source.requests["/held.csv"] == 1  # one download: the job ran once
        assert [ev["event"] for ev in job_events(settings, job_id) if ev["event"] in ("STARTED", "RESUMED")] \
            == ["STARTED"]
    finally:
        worker.stop()


def test_a_worker_asked_to_stop_stops_in_seconds_and_its_job_resumes_elsewhere(settings, tmp_path, source):
    """SIGTERM while a job cannot finish (its source holds the body): the worker exits within 10 s, ending
    nothing, and the worker that gets the job's partition resumes it."""
    with two_workers(settings, tmp_path) as workers:  # no rebalance moves the job before the stop
        client = workers[0].client
        client.ok({"operation": "create_table", "database": "re", "table": "dog", "primary_key": "id"})
        job_id = client.ok({"operation": "csv_url_load", "database": "re", "table": "dog",
                            "csv_url": f"{source.url}/again.csv"})["job_id"]
        assert source.stalled.acquire(timeout=60)
        [started] = [ev for ev in job_events(settings, job_id) if ev["event"] == "STARTED"]
        [running] = [w for w in workers if started["worker"].endswith(f":{w.proc.pid}")]
        [other] = [w for w in workers if w is not running]
        asked = time.monotonic()
        running.proc.send_signal(signal.SIGTERM)
        try:
            running.proc.wait(10)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running 10 s after SIGTERM:\n{running.log_text()[-3000:]}") from None
        print(f"stopped {time.monotonic() - asked:.1f} s after SIGTERM")
        stopped_log = running.log_text()
        # an orderly stop: the job was told to stop before the producer went, and nothing says it failed
        assert "level=error" not in stopped_log.lower() and "Bus.start() first" not in stopped_log, stopped_log[-4000:]
        resumed = wait_until(lambda: [ev for ev in job_events(settings, job_id) if ev["event"] == "RESUMED"],
                             "the job resumed", timeout=60)
        assert resumed[0]["worker"].endswith(f":{other.proc.pid}")
        job = other.client.job(job_id, timeout=120)
        assert job["message"] == f"successfully loaded {ROWS} of {ROWS} records", job
        assert not [ev for ev in job_events(settings, job_id) if ev["event"] == "ERROR"]


def test_a_stalled_shard_writer_holds_the_splitter_back(settings, tmp_path):
    """Backpressure: the splitter runs at most two checkpoints ahead of the slowest shard writer."""
    settings = dataclasses.replace(settings, batch_size=500, checkpoint_batches=2)
    rows = 100_000
    source = tmp_path / "rows.csv"
    source.write_text("id,n\n" + "".join(f"{i},{i}\n" for i in range(rows)))
    with two_workers(settings, tmp_path) as workers:
        client = workers[0].client
        job_id = client.ok({"operation": "csv_file_load", "database": "bp", "table": "t",
                            "file_path": str(source)})["job_id"]
        splitting = wait_until(lambda: next((ev["worker"] for ev in job_events(settings, job_id)
                                             if ev["event"] == "STARTED"), None), "STARTED event")
        writer = next(w for w in workers if splitting.rsplit(":", 1)[1] != str(w.proc.pid))
        os.kill(writer.proc.pid, signal.SIGSTOP)
        try:
            stopped_at = checkpoints(settings, job_id)
            time.sleep(3)  # observing that nothing happens: the splitter must stand still meanwhile
            held = checkpoints(settings, job_id)
        finally:
            os.kill(writer.proc.pid, signal.SIGCONT)
        assert held - stopped_at <= 2, (stopped_at, held)
        job = client.job(job_id, timeout=180)
        assert job["message"] == f"successfully loaded {rows} of {rows} records"
        assert held * settings.batch_size * settings.checkpoint_batches < rows  # it was held mid-load

        # and in the whole job's events: checkpoint k+1 only after the commands of checkpoint k-1 were applied
        applied: dict[int, int] = {}
        sent: list[list[int]] = []
        for ev in job_events(settings, job_id):
            if ev["event"] == "BATCH_APPLIED":
                applied[ev["shard"]] = max(applied.get(ev["shard"], 0), ev["seq"] + 1)
            elif ev["event"] == "SPLIT_PROGRESS":
                if len(sent) >= 2:
                    assert all(applied.get(shard, 0) >= n for shard, n in enumerate(sent[-2])), (applied, sent)
                sent.append(codec.loads(ev["detail"])["commands"])


@contextlib.contextmanager
def two_workers(settings, tmp_path) -> Iterator[list[WorkerProcess]]:
    """Two workers, both in the group and holding shards (a small load into ``bp.t`` was written by both)."""
    workers: list[WorkerProcess] = []
    try:
        for i in range(2):
            workers.append(WorkerProcess(dataclasses.replace(settings, data_dir=tmp_path / f"w{i}",
                                                             http_port=free_port()), tmp_path / f"w{i}.log").start())
        client = workers[0].client
        client.ok({"operation": "create_table", "database": "bp", "table": "t", "primary_key": "id"})
        wait_until(lambda: len({ev["worker"] for ev in small_load_events(settings, "BATCH_APPLIED", client, 40)}) == 2,
                   "a load written by both workers")
        yield workers
    finally:
        for worker in workers:
            worker.stop()


def checkpoints(settings, job_id: str) -> int:
    return sum(ev["event"] == "SPLIT_PROGRESS" for ev in job_events(settings, job_id))


def small_load_events(settings, kind: str, client, rows: int) -> list[dict]:
    """Load ``rows`` small rows and return the job's events of ``kind``."""
    data = "id\n" + "".join(f"w{i}\n" for i in range(rows))
    job = client.run_job({"operation": "csv_data_load", "database": "bp", "table": "t", "data": data})
    return [ev for ev in job_events(settings, job["id"]) if ev["event"] == kind]


@pytest.mark.parametrize("ending", ["killed", "stopped"])
def test_an_export_whose_worker_dies_is_run_again_and_leaves_no_partial_object(settings, tmp_path, s3_endpoint,
                                                                               ending):
    """The worker killed, or asked to stop (SIGTERM), while S3 holds its upload; ``stopped``: it exits within
    10 s all the same (the upload's thread does not hold it), and the job is left to resume, not ended."""
    proxy = S3Proxy(s3_endpoint)  # moto's buckets outlive its server: the object's key is this case's own
    proxy.hold_up = 1_000_000  # the upload (about 6 MB) never gets through
    first = WorkerProcess(dataclasses.replace(settings, s3_endpoint_url=proxy.url), tmp_path / "first.log").start()
    try:
        client = first.client
        client.ok({"operation": "create_table", "database": "ex", "table": "t", "primary_key": "id"})
        client.ok({"operation": "insert", "database": "ex", "table": "t",
                   "records": [{"id": i, "text": "z" * 300} for i in range(20_000)]})
        job_id = client.ok({"operation": "export_to_s3", "format": "json", "s3": {"bucket": "backups", "key": ending, "region": "us-east-1"},
                            "search_operation": {"operation": "sql", "sql": "SELECT id, text FROM ex.t"}})["job_id"]
        assert proxy.holding.wait(60), client.ok({"operation": "get_job", "id": job_id})[0]["message"]
        if ending == "stopped":
            first.proc.send_signal(signal.SIGTERM)
            first.proc.wait(10)  # raises TimeoutExpired if the held upload keeps it alive
            assert not [ev for ev in job_events(settings, job_id) if ev["event"] == "ERROR"]
        first.kill()
        s3 = boto3.client("s3", endpoint_url=s3_endpoint)
        assert s3.list_objects_v2(Bucket="backups", Prefix=ending)["KeyCount"] == 0
    finally:
        first.kill()
        proxy.close()

    second = WorkerProcess(dataclasses.replace(settings, s3_endpoint_url=s3_endpoint, data_dir=tmp_path / "second",
                                               http_port=free_port()), tmp_path / "second.log").start()
    try:
        job = second.client.job(job_id, timeout=180)
        assert job["status"] == "COMPLETE", job
        assert [ev["worker"] for ev in job_events(settings, job_id) if ev["event"] == "RESUMED"] \
            == [f"{socket.gethostname()}:{second.proc.pid}"]
        rows = json.loads(s3.get_object(Bucket="backups", Key=f"{ending}.json")["Body"].read())
        assert sorted(row["id"] for row in rows) == list(range(20_000)) and rows[0]["text"] == "z" * 300
    finally:
        second.stop()
