"""Shards handed to a worker whose data directory has not followed them: replayed from shard-log, then served."""
from __future__ import annotations

import dataclasses
import json

from harness import WorkerProcess

ROWS = 3000


def export_ids(worker: WorkerProcess, directory, name: str) -> list:
    job = worker.client.run_job({"operation": "export_local", "format": "json", "path": str(directory),
                                 "filename": name, "search_operation": {"operation": "sql",
                                                                        "sql": "SELECT id FROM hand.over"}})
    assert job["status"] == "COMPLETE", job
    return [row["id"] for row in json.loads((directory / f"{name}.json").read_text())]


def load(worker: WorkerProcess, first: int, count: int) -> dict:
    data = "id,n\n" + "".join(f"{i},{i * 2}\n" for i in range(first, first + count))
    return worker.client.run_job({"operation": "csv_data_load", "database": "hand", "table": "over", "data": data})


def test_an_empty_then_a_stale_data_directory_catch_up_before_serving(settings, tmp_path):
    first = WorkerProcess(settings, tmp_path / "first.log").start()
    try:
        first.client.ok({"operation": "create_table", "database": "hand", "table": "over", "primary_key": "id"})
        assert load(first, 0, ROWS)["message"] == f"successfully loaded {ROWS} of {ROWS} records"
    finally:
        first.stop()

    # a new worker, nothing in its data directory: it takes every shard and replays each one
    fresh = dataclasses.replace(settings, data_dir=tmp_path / "fresh-data")
    second = WorkerProcess(fresh, tmp_path / "second.log").start()
    try:
        assert export_ids(second, tmp_path, "after-replay") == list(range(ROWS))
        assert "replaying a shard this worker has not followed" in second.log_text()
        assert load(second, ROWS, 500)["message"] == "successfully loaded 500 of 500 records"
    finally:
        second.stop()

    # the first worker comes back with a stale directory: it replays only what it missed
    again = WorkerProcess(settings, tmp_path / "again.log").start()
    try:
        assert export_ids(again, tmp_path, "after-catch-up") == list(range(ROWS + 500))
        assert load(again, 0, 10)["message"] == "successfully loaded 0 of 10 records"  # nothing applied twice
    finally:
        again.stop()
