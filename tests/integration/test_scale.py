"""Several workers in one consumer group: the shards of a load are written by different workers, and a
worker killed mid-load, mid-export or just before an export loses nothing and doubles nothing.

The chaos tests (``make chaos``) print the end of every worker's log when they fail; the job's message is
in the assertion.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import time
from typing import Iterator

import pytest

from harness import WorkerProcess, job_events, logs_on_failure
from pipeline.kafka.broker import free_port

ROWS = 20_000
#: exports submitted together in the chaos tests, so that some are running when partitions move
EXPORTS_AT_ONCE = 3


@contextlib.contextmanager
def cluster(settings, tmp_path, count: int) -> Iterator[list[WorkerProcess]]:
    """``count`` workers sharing the work; if the block fails, the end of each one's log is printed."""
    workers: list[WorkerProcess] = []
    try:
        with logs_on_failure(workers):
            for i in range(count):
                own = dataclasses.replace(settings, data_dir=tmp_path / f"worker-{i}", http_port=free_port())
                workers.append(WorkerProcess(own, tmp_path / f"worker-{i}.log").start())
            yield workers
    finally:
        for worker in workers:
            worker.stop()


def write_csv(path, rows: int):
    with open(path, "w") as out:
        out.write("id,name,n\n")
        for i in range(rows):
            out.write(f"{i},name {i},{i % 97}\n")
    return path


EXPORT_ALL = {"operation": "search_by_value", "database": "scale", "table": "t", "search_attribute": "id",
              "search_value": "*", "get_attributes": ["id"]}


def start_export(worker: WorkerProcess, directory, name: str) -> str:
    return worker.client.ok({"operation": "export_local", "format": "json", "path": str(directory),
                             "filename": name, "search_operation": EXPORT_ALL})["job_id"]


def ids_of_export(worker: WorkerProcess, job_id: str, directory, name: str, timeout: float = 300) -> list:
    job = worker.client.job(job_id, timeout=timeout)
    assert job["status"] == "COMPLETE", f"export {job_id} ended {job['status']}: {job.get('message')}"
    return [row["id"] for row in json.loads((directory / f"{name}.json").read_text())]


def exported_ids(worker: WorkerProcess, directory, name: str) -> list:
    return ids_of_export(worker, start_export(worker, directory, name), directory, name, timeout=180)


def test_three_workers_share_the_shards_of_one_load(settings, tmp_path):
    with cluster(settings, tmp_path, 3) as workers:
        first = workers[0].client
        first.ok({"operation": "create_table", "database": "scale", "table": "t", "primary_key": "id"})
        source = write_csv(tmp_path / "rows.csv", ROWS)
        job = first.run_job({"operation": "csv_file_load", "database": "scale", "table": "t",
                             "file_path": str(source)}, timeout=180)
        assert job["message"] == f"successfully loaded {ROWS} of {ROWS} records"
        writers = {ev["worker"] for ev in job_events(workers[0].settings, job["id"]) if ev["event"] == "BATCH_APPLIED"}
        assert len(writers) >= 2, writers  # the shards of one load were written by different workers
        assert exported_ids(workers[2], tmp_path, "all") == list(range(ROWS))


@pytest.mark.chaos
@pytest.mark.timeout(900)
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_a_worker_killed_mid_load_loses_and_doubles_nothing(settings, tmp_path, seed):
    rnd = random.Random(seed)
    with cluster(settings, tmp_path, 3) as workers:
        workers[0].client.ok({"operation": "create_table", "database": "scale", "table": "t", "primary_key": "id"})
        rows = 200_000
        source = write_csv(tmp_path / "rows.csv", rows)
        started = workers[0].client.ok({"operation": "csv_file_load", "database": "scale", "table": "t",
                                        "file_path": str(source)})
        time.sleep(rnd.uniform(0.5, 6.0))  # the random point of the kill is the point of this test
        victim = workers[rnd.randrange(3)]
        killed_at = time.time() * 1000
        victim.kill()
        survivor = next(w for w in workers if w is not victim)
        job = survivor.client.job(started["job_id"], timeout=600)
        assert job["message"] == f"successfully loaded {rows} of {rows} records", f"load ended: {job['message']}"
        assert exported_ids(survivor, tmp_path, "all") == list(range(rows))
        events = job_events(survivor.settings, started["job_id"])
        assert len({ev["worker"] for ev in events if ev["event"] == "BATCH_APPLIED"}) >= 2
        # the hand-over, in the job's events: a load its splitter did not finish was resumed by a survivor
        dead = f":{victim.proc.pid}"
        split_done = next(ev for ev in events if ev["event"] == "SPLIT_DONE")
        if any(ev["event"] == "STARTED" and ev["worker"].endswith(dead) for ev in events) \
                and split_done["time"] > killed_at:
            resumed = [ev for ev in events if ev["event"] == "RESUMED"]
            assert resumed and not resumed[0]["worker"].endswith(dead) and split_done["worker"] == resumed[0]["worker"]


def load_rows(worker: WorkerProcess, tmp_path, rows: int) -> None:
    worker.client.ok({"operation": "create_table", "database": "scale", "table": "t", "primary_key": "id"})
    job = worker.client.run_job({"operation": "csv_file_load", "database": "scale", "table": "t",
                                 "file_path": str(write_csv(tmp_path / "rows.csv", rows))}, timeout=600)
    assert job["message"] == f"successfully loaded {rows} of {rows} records", job


def scans_agree(worker: WorkerProcess, rows: int) -> None:
    """The synchronous scans (SQL, a search, describe's count) see every row once."""
    assert worker.client.ok({"operation": "sql", "sql": "SELECT COUNT(*) AS n FROM scale.t"}) == [{"n": rows}]
    found = worker.client.ok({"operation": "search_by_conditions", "database": "scale", "table": "t",
                              "get_attributes": ["id"], "conditions": [
                                  {"search_attribute": "n", "search_type": "equals", "search_value": 5}]})
    assert sorted(r["id"] for r in found) == list(range(5, rows, 97))
    assert worker.client.ok({"operation": "describe_table", "database": "scale", "table": "t"})["record_count"] == rows


@pytest.mark.chaos
@pytest.mark.timeout(900)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_exports_and_scans_while_a_killed_workers_partitions_move_see_every_row_once(settings, tmp_path, seed):
    """Exports and scans submitted from the kill until after its rebalance (a session timeout later): each
    one runs while partitions are moving, or just after, and sees every row exactly once."""
    rnd = random.Random(seed)
    rows = 100_000
    with cluster(settings, tmp_path, 3) as workers:
        load_rows(workers[0], tmp_path, rows)
        victim = workers[rnd.randrange(3)]
        survivors = [w for w in workers if w is not victim]
        time.sleep(rnd.uniform(0, 2))
        killed = time.monotonic()
        victim.kill()
        rounds = 0
        while rounds < 2 or time.monotonic() - killed < 4 * settings.rebalance_timeout + 3:
            # several at once, so that exports are running whenever the rebalance comes
            names = [f"after-kill-{rounds}-{i}" for i in range(EXPORTS_AT_ONCE)]
            started = {name: start_export(rnd.choice(survivors), tmp_path, name) for name in names}
            scans_agree(rnd.choice(survivors), rows)
            for name, job_id in started.items():
                assert ids_of_export(survivors[0], job_id, tmp_path, name) == list(range(rows))
            rounds += 1


@pytest.mark.chaos
@pytest.mark.timeout(900)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_worker_killed_during_an_export_loses_and_doubles_nothing(settings, tmp_path, seed):
    rnd = random.Random(seed)
    rows = 100_000
    with cluster(settings, tmp_path, 3) as workers:
        load_rows(workers[0], tmp_path, rows)
        names = [f"during-{i}" for i in range(EXPORTS_AT_ONCE)]
        started = {name: start_export(rnd.choice(workers), tmp_path, name) for name in names}
        time.sleep(rnd.uniform(0.2, 4.0))  # the exports take several seconds: the kill lands in them
        victim = workers[rnd.randrange(3)]
        survivors = [w for w in workers if w is not victim]
        victim.kill()
        dead = f":{victim.proc.pid}"
        for name, job_id in started.items():
            assert ids_of_export(survivors[0], job_id, tmp_path, name) == list(range(rows))
            events = job_events(settings, job_id)
            runs = [ev for ev in events if ev["event"] in ("STARTED", "RESUMED")]
            ended_by_victim = any(ev["worker"].endswith(dead) for ev in events if ev["event"] == "COMPLETE")
            if runs[0]["worker"].endswith(dead) and not ended_by_victim:
                # the victim's export, killed before it ended, was run again by a survivor: as RESUMED, or as
                # STARTED when the tracker that had the job's events was the victim's and had not folded its
                # STARTED into the record yet (a re-run from the start is the same export); an export the
                # victim ended before the kill is not run again
                assert any(not ev["worker"].endswith(dead) for ev in runs[1:]), runs
        scans_agree(survivors[1], rows)
