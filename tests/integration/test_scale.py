"""Several workers in one consumer group: the shards of a load are written by different workers, and a
worker killed mid-load loses nothing and doubles nothing."""
from __future__ import annotations

import dataclasses
import json
import random
import time

import pytest

from harness import WorkerProcess, job_events
from pipeline.kafka.broker import free_port

ROWS = 20_000


def start_workers(settings, tmp_path, count: int) -> list[WorkerProcess]:
    workers = []
    for i in range(count):
        own = dataclasses.replace(settings, data_dir=tmp_path / f"worker-{i}", http_port=free_port())
        workers.append(WorkerProcess(own, tmp_path / f"worker-{i}.log").start())
    return workers


def write_csv(path, rows: int):
    with open(path, "w") as out:
        out.write("id,name,n\n")
        for i in range(rows):
            out.write(f"{i},name {i},{i % 97}\n")
    return path


def exported_ids(worker: WorkerProcess, directory, name: str) -> list:
    job = worker.client.run_job({"operation": "export_local", "format": "json", "path": str(directory),
                                 "filename": name, "search_operation": {
                                     "operation": "search_by_value", "database": "scale", "table": "t",
                                     "search_attribute": "id", "search_value": "*", "get_attributes": ["id"]}},
                                timeout=180)
    assert job["status"] == "COMPLETE", job
    return [row["id"] for row in json.loads((directory / f"{name}.json").read_text())]


def test_three_workers_share_the_shards_of_one_load(settings, tmp_path):
    workers = start_workers(settings, tmp_path, 3)
    try:
        first = workers[0].client
        first.ok({"operation": "create_table", "database": "scale", "table": "t", "primary_key": "id"})
        source = write_csv(tmp_path / "rows.csv", ROWS)
        job = first.run_job({"operation": "csv_file_load", "database": "scale", "table": "t",
                             "file_path": str(source)}, timeout=180)
        assert job["message"] == f"successfully loaded {ROWS} of {ROWS} records"
        writers = {ev["worker"] for ev in job_events(workers[0].settings, job["id"]) if ev["event"] == "BATCH_APPLIED"}
        assert len(writers) >= 2, writers  # the shards of one load were written by different workers
        assert exported_ids(workers[2], tmp_path, "all") == list(range(ROWS))
    finally:
        for worker in workers:
            worker.stop()


@pytest.mark.chaos
@pytest.mark.timeout(900)
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_a_worker_killed_mid_load_loses_and_doubles_nothing(settings, tmp_path, seed):
    rnd = random.Random(seed)
    workers = start_workers(settings, tmp_path, 3)
    try:
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
        assert job["message"] == f"successfully loaded {rows} of {rows} records", job
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
    finally:
        for worker in workers:
            worker.stop()
