"""`harper-pipeline up` with two worker processes, as `make run` starts them on two cores: one load written by
both, exactly; a process killed mid-load started again while the load ends exactly; every job sent while a
process leaves the group and joins it again ends; a job whose message no process is handed is queued again by
the owner of its partition; `up` stopped, every process and then the broker stopped, and the next `up` (a new
broker) finding every record both processes wrote."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import signal
import socket
import time
import urllib.request
import uuid

import pytest

from harness import (FINAL_KINDS, HELD_ROWS, Client, HeldSource, WorkerProcess, final_events, job_events,
                     logs_on_failure, wait_until)
from pipeline import codec
from pipeline.jobs.events import emit, event, kept_request
from pipeline.kafka import broker as embedded
from pipeline.kafka.broker import free_port
from pipeline.kafka.bus import Bus

ROWS = 10_000
#: PIPELINE_JOB_START_TIMEOUT of these processes: seconds before a job never handed to its owner is queued again
START_TIMEOUT = 3


@pytest.fixture(scope="module")
def up(module_settings):
    settings = dataclasses.replace(module_settings, worker_processes=2, batch_size=200, checkpoint_batches=10,
                                   process_ports_from=two_free_ports())
    port = free_port()
    pipeline = WorkerProcess(settings, settings.data_dir.parent / "up.log", command="up",
                             env={"PIPELINE_EMBEDDED_PORT": str(port),
                                  "PIPELINE_JOB_START_TIMEOUT": str(START_TIMEOUT)}).start()
    pipeline.kafka = dataclasses.replace(settings, bootstrap_servers=f"127.0.0.1:{port}")  # to read its topics
    with logs_on_failure([pipeline]):
        wait_until(lambda: every_process_ready(pipeline), "both worker processes in the group", 120)
        yield pipeline
    pipeline.stop()


def two_free_ports() -> int:
    """A port that is free, and the one after it."""
    while True:
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            try:
                second.bind(("127.0.0.1", first.getsockname()[1] + 1))
            except OSError:
                continue
            return first.getsockname()[1]


def every_process_ready(pipeline: WorkerProcess) -> bool:
    """Each process answers ready on its own port: it has caught up with the views and joined the group."""
    for port in (pipeline.settings.process_ports_from, pipeline.settings.process_ports_from + 1):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=5) as answer:
                if answer.status != 200:
                    return False
        except OSError:
            return False
    return len(ready_pids(pipeline)) == 2


def ready_pids(pipeline: WorkerProcess) -> dict[int, int]:
    """pid -> process index, of the worker processes `up` said were ready (the latest of each index)."""
    found = re.findall(r'msg="worker process ready" worker=worker-(\d+) pid=(\d+)', pipeline.log_text())
    return {pid: index for index, pid in {int(i): int(p) for i, p in found}.items()}


def workers_of(events: list[dict], kind: str) -> set[int]:
    """The pids of the worker processes that emitted events of ``kind`` (a worker is named ``host:pid``)."""
    return {int(ev["worker"].rsplit(":", 1)[1]) for ev in events if ev["event"] == kind}


def test_one_load_is_written_by_both_processes_exactly(up, tmp_path):
    path = tmp_path / "many.csv"
    path.write_text("id,name\n" + "".join(f"{i},dog {i}\n" for i in range(ROWS)))
    up.client.ok({"operation": "create_table", "database": "multi", "table": "many", "primary_key": "id"})
    job = up.client.run_job({"operation": "csv_file_load", "database": "multi", "table": "many",
                             "file_path": str(path)})
    assert job["status"] == "COMPLETE" and job["message"] == f"successfully loaded {ROWS} of {ROWS} records", job
    # the shards of this one load were written by both processes
    assert workers_of(job_events(up.kafka, job["id"]), "BATCH_APPLIED") == set(ready_pids(up))
    rows = up.client.ok({"operation": "sql", "sql": "SELECT id FROM multi.many"})
    assert sorted(row["id"] for row in rows) == list(range(ROWS))
    # each process is scraped on a port of its own: its own series, which add up to the load
    written = {}
    for port in (up.settings.process_ports_from, up.settings.process_ports_from + 1):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            series = re.findall(r'harper_pipeline_rows_written_total\{command="WRITE_BATCH",worker="[^"]*:(\d+)"\} '
                                r'(\S+)', answer.read().decode())
        assert len(series) == 1, series
        written[int(series[0][0])] = float(series[0][1])
    assert set(written) == set(ready_pids(up)) and sum(written.values()) == ROWS
    # whichever process answers, it reads every write before it
    for _ in range(4):
        assert up.client.ok({"operation": "sql", "sql": "SELECT COUNT(*) AS n FROM multi.many"}) == [{"n": ROWS}]
        assert up.client.ok({"operation": "get_job", "id": job["id"]})[0]["message"] == job["message"]


def replies_read(pipeline: WorkerProcess) -> dict[int, dict[str, float]]:
    """pid -> {awaited: count} of the replies each process fetched from export-results (its metrics)."""
    found: dict[int, dict[str, float]] = {}
    for port in (pipeline.settings.process_ports_from, pipeline.settings.process_ports_from + 1):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            text = answer.read().decode()
        pid = int(re.search(r'worker="[^"]*:(\d+)"', text).group(1))
        found[pid] = {awaited: float(n) for awaited, n in re.findall(
            r'harper_pipeline_replies_read_total\{awaited="(\w+)",worker="[^"]*"\} (\S+)', text)}
    return found


def test_the_shards_reply_only_to_the_process_that_asked(up, tmp_path):
    """An export's rows and a write's keys are fetched by the process that waits for them, not by every one."""
    up.client.ok({"operation": "create_table", "database": "multi", "table": "asked", "primary_key": "id"})
    records = [{"id": i, "name": f"asked {i}"} for i in range(3000)]
    before = replies_read(up)
    assert up.client.ok({"operation": "insert", "database": "multi", "table": "asked", "records": records})[
        "message"] == "inserted 3000 of 3000 records"
    after_write = replies_read(up)
    # the write's keys came to one process, every shard's (both processes wrote some)
    grew = {pid for pid in after_write if after_write[pid].get("yes", 0) > before[pid].get("yes", 0)}
    assert len(grew) == 1 and all(after_write[pid].get("no", 0) == 0 for pid in after_write), after_write
    job = up.client.run_job({"operation": "export_local", "format": "json", "path": str(tmp_path),
                             "filename": "asked", "search_operation": {
                                 "operation": "search_by_value", "database": "multi", "table": "asked",
                                 "search_attribute": "id", "search_value": "*", "get_attributes": ["id", "name"]}})
    assert job["status"] == "COMPLETE", job
    assert json.loads((tmp_path / "asked.json").read_text()) == records
    [runner] = workers_of(job_events(up.kafka, job["id"]), "STARTED")
    [other] = set(ready_pids(up)) - {runner}
    after = replies_read(up)
    # every shard's rows (at least one ROWS and one DONE each) fetched by the job's process, none by the other
    assert after[runner].get("yes", 0) - after_write[runner].get("yes", 0) >= 2 * up.settings.shard_partitions, (
        after_write, after)
    assert after[other] == after_write[other] and after[runner].get("no", 0) == 0, (after_write, after)


def test_a_user_added_through_one_process_logs_in_through_the_other_at_once(up):
    first, second = (f"http://127.0.0.1:{up.settings.process_ports_from + i}/" for i in (0, 1))
    admin = Client(first, "admin:password")
    admin.ok({"operation": "add_role", "role": "viewer", "permission": {"super_user": False}})
    for n in range(3):
        admin.ok({"operation": "add_user", "role": "viewer", "username": f"vic{n}", "password": "pw", "active": True})
        assert Client(second, f"vic{n}:pw").op({"operation": "user_info"}).status == 200
        admin.ok({"operation": "drop_user", "username": f"vic{n}"})
        assert Client(second, f"vic{n}:pw").op({"operation": "user_info"}).status == 401


def test_a_process_killed_mid_load_is_started_again_and_the_load_ends_exactly(up):
    source = HeldSource()
    try:
        up.client.ok({"operation": "create_table", "database": "multi", "table": "dog", "primary_key": "id"})
        job_id = up.client.ok({"operation": "csv_url_load", "database": "multi", "table": "dog",
                               "csv_url": f"{source.url}/dogs.csv"})["job_id"]
        assert source.stalled.acquire(timeout=60)  # the load is mid-way: some 7,700 rows read and split
        processes = ready_pids(up)
        [runner] = workers_of(job_events(up.kafka, job_id), "STARTED")
        index = processes[runner]
        os.kill(runner, signal.SIGKILL)
        source.release.set()
        job = up.client.job(job_id, timeout=120)
        assert job["status"] == "COMPLETE", job
        assert job["message"] == f"successfully loaded {HELD_ROWS} of {HELD_ROWS} records", job
        rows = up.client.ok({"operation": "sql", "sql": "SELECT id, n FROM multi.dog"})
        assert sorted(row["n"] for row in rows) == list(range(HELD_ROWS))  # every row once
        assert len({row["id"] for row in rows}) == HELD_ROWS  # none under a second generated key
        assert workers_of(job_events(up.kafka, job_id), "RESUMED") - {runner}  # resumed by a live process
        # `up` started the killed process again
        wait_until(lambda: index in ready_pids(up).values() and runner not in ready_pids(up),
                   "the killed process started again")
        assert f'worker=worker-{index} pid={runner} exit_code=-9' in up.log_text()
    finally:
        source.close()


def test_a_process_started_again_takes_requests_only_once_it_is_ready(up):
    """While `up` starts a killed process again, every request on the shared port is answered by a process that
    is ready: none gets the starting process's 503."""
    [killed] = [pid for pid, index in ready_pids(up).items() if index == 1]
    os.kill(killed, signal.SIGKILL)
    statuses = []
    deadline = time.monotonic() + 120
    while not (second_process(up) not in (None, killed) and every_process_ready(up)):
        assert time.monotonic() < deadline, "the killed process did not start again"
        statuses.append(up.client.op({"operation": "user_info"}).status)
    statuses += [up.client.op({"operation": "user_info"}).status for _ in range(20)]  # both serve again
    assert statuses and set(statuses) == {200}, sorted(set(statuses))


def second_process(pipeline: WorkerProcess) -> int | None:
    return next((pid for pid, index in ready_pids(pipeline).items() if index == 1), None)


def jobs_across_joins(pipeline: WorkerProcess, table: str, path, cycles: int) -> dict[str, list[str]]:
    """Stop the second process (`up` starts it again a second later) ``cycles`` times, sending an export or a
    small load every 0.15 s from before it leaves until 2 s after it is back; every job's event kinds."""
    client = pipeline.client
    client.ok({"operation": "create_table", "database": "multi", "table": table, "primary_key": "id"})
    client.ok({"operation": "insert", "database": "multi", "table": table,
               "records": [{"id": i, "name": f"dog {i}"} for i in range(50)]})
    sent: list[str] = []

    def send() -> None:
        n = len(sent)
        op = {"operation": "csv_data_load", "database": "multi", "table": table,
              "data": f"id,name\n{1000 + n},joined {n}\n"} if n % 2 else {
            "operation": "export_local", "format": "json", "path": str(path), "filename": f"{table}{n}",
            "search_operation": {"operation": "search_by_value", "database": "multi", "table": table,
                                 "search_attribute": "id", "search_value": "*", "get_attributes": ["id"]}}
        answer = client.op(op)
        if answer.status != 503:  # a process starting answers 503 on the shared port: a client tries again
            assert answer.status == 200, answer
            sent.append(answer.body["job_id"])

    for _ in range(cycles):
        leaving = second_process(pipeline)
        assert leaving is not None
        os.kill(leaving, signal.SIGTERM)
        back_at = None
        while back_at is None or time.monotonic() < back_at + 2:
            send()
            if back_at is None and second_process(pipeline) not in (None, leaving):
                back_at = time.monotonic()
            time.sleep(0.15)  # the pace of the jobs, not a wait for anything
    return final_events(pipeline.kafka, set(sent), timeout=60)


def assert_every_job_ended(kinds: dict[str, list[str]]) -> None:
    stuck = {job_id: seen for job_id, seen in kinds.items() if not set(seen) & FINAL_KINDS}
    assert not stuck, f"{len(stuck)} of {len(kinds)} jobs never ended: {stuck}"
    failed = {job_id: seen for job_id, seen in kinds.items() if "ERROR" in seen}
    assert not failed, failed


def test_every_job_sent_while_a_process_leaves_and_joins_the_group_ends(up, tmp_path):
    assert_every_job_ended(jobs_across_joins(up, "joins", tmp_path, cycles=1))
    wait_until(lambda: every_process_ready(up), "both worker processes in the group")


@pytest.mark.chaos
def test_every_job_sent_across_many_joins_ends(up, tmp_path):
    assert_every_job_ended(jobs_across_joins(up, "many_joins", tmp_path, cycles=8))
    wait_until(lambda: every_process_ready(up), "both worker processes in the group")


def test_a_job_whose_message_no_process_is_handed_is_queued_again_by_the_owner_of_its_partition(up, tmp_path):
    """The state a job was left in once as a second process joined the group: CREATED, and its message never
    handed to a worker. The owner of the partition its message belongs to queues it again."""
    up.client.ok({"operation": "create_table", "database": "multi", "table": "lost", "primary_key": "id"})
    up.client.ok({"operation": "insert", "database": "multi", "table": "lost", "records": [{"id": 1}, {"id": 2}]})
    op = {"operation": "export_local", "format": "json", "path": str(tmp_path), "filename": "lost",
          "search_operation": {"operation": "search_by_value", "database": "multi", "table": "lost",
                               "search_attribute": "id", "search_value": "*", "get_attributes": ["id"]}}
    job_id = str(uuid.uuid4())

    async def created_only() -> None:  # what the API writes before it produces the job's message, and no message
        bus = Bus(up.kafka)
        await bus.start()
        try:
            await emit(bus, event(job_id, "CREATED", type=op["operation"], user="admin",
                                  detail=codec.dumps(kept_request(op))), wait=True)
        finally:
            await bus.stop()
    asyncio.run(created_only())
    job = up.client.job(job_id, timeout=60)
    assert job["status"] == "COMPLETE", job
    assert json.loads((tmp_path / "lost.json").read_text()) == [{"id": 1}, {"id": 2}]
    events = job_events(up.kafka, job_id)
    assert [ev["event"] for ev in events] == ["CREATED", "REQUEUED", "STARTED", "COMPLETE"], events
    assert events[1]["message"] == ("no worker was handed this job's message; queued again to carry on from the "
                                    "beginning (it had no checkpoint yet; commands already applied are skipped)")
    assert up.log_text().count("was never handed to it: it is queued again") == 1


def test_stopping_up_stops_every_process_then_the_broker_and_the_next_up_finds_everything(up):
    records = [{"id": i, "name": f"kept {i}"} for i in range(100)]  # over every shard, so both processes
    up.client.ok({"operation": "create_table", "database": "multi", "table": "kept", "primary_key": "id"})
    assert up.client.ok({"operation": "insert", "database": "multi", "table": "kept", "records": records})[
        "message"] == "inserted 100 of 100 records"
    children = [int(pid) for pid in open(f"/proc/{up.proc.pid}/task/{up.proc.pid}/children").read().split()]
    broker_pid = json.loads((up.settings.data_dir / "embedded-broker.json").read_text())["broker_pid"]
    assert broker_pid in children and set(ready_pids(up)) < set(children)
    up.proc.send_signal(signal.SIGTERM)
    up.proc.wait(15)  # `up` kills a process that is not stopped after 10 s
    assert not [pid for pid in children if embedded._running(pid)]
    log = up.log_text()
    assert "stopping the worker processes" in log and "did not stop in time" not in log

    # a new broker, which knows nothing: the shards' stores, shared by the processes, hold every record
    again = WorkerProcess(up.settings, up.log_path.with_name("again.log"), command="up",
                          env={"PIPELINE_EMBEDDED_PORT": str(free_port())}).start()
    try:
        with logs_on_failure([again]):
            wait_until(lambda: every_process_ready(again), "both worker processes in the group", 120)
            kept = up.client.ok({"operation": "sql", "sql": "SELECT id, name FROM multi.kept"})
            assert sorted(kept, key=lambda r: r["id"]) == records
            assert "a new shard-log" in again.log_text()
    finally:
        again.stop()
