"""Shards handed to a worker whose data directory has not followed them: replayed from shard-log, then served."""
from __future__ import annotations

import dataclasses
import json

import pytest

from harness import WorkerProcess, cli

ROWS = 3000


def export_ids(worker: WorkerProcess, directory, name: str) -> list:
    # OVER is reserved in Harper's SQL: the table is quoted, as Harper needs
    job = worker.client.run_job({"operation": "export_local", "format": "json", "path": str(directory),
                                 "filename": name, "search_operation": {"operation": "sql",
                                                                        "sql": "SELECT id FROM hand.`over`"}})
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


@pytest.mark.parametrize("where", ["directory", "s3"])
def test_a_worker_restored_from_a_snapshot_replays_only_what_came_after(settings, tmp_path, request, where):
    if where == "s3":
        settings = dataclasses.replace(settings, s3_endpoint_url=request.getfixturevalue("s3_endpoint"))
        target, refused_body = "s3://backups/pipeline/", {"s3": {"bucket": "backups", "key": "pipeline"}}
        snapshot = "s3://backups/pipeline/snap"
    else:
        target, refused_body, snapshot = str(tmp_path), {"path": str(tmp_path)}, str(tmp_path / "snap")
    worker = WorkerProcess(settings, tmp_path / "first.log").start()
    try:
        worker.client.ok({"operation": "create_table", "database": "hand", "table": "over", "primary_key": "id"})
        load(worker, 0, ROWS)
        taken = cli(settings, "snapshot", target, "--name", "snap")
        assert taken.returncode == 0, taken.stderr
        assert json.loads(taken.stdout)["path"] == snapshot.rstrip("/")
        offsets = {int(s): v["offset"] for s, v in json.loads(taken.stdout)["shards"].items()}
        assert offsets and all(offset > 0 for offset in offsets.values())
        refused = worker.client.op({"operation": "snapshot", "name": "snap", **refused_body})
        assert refused.status == 400 and "already" in refused.body["error"]
        load(worker, ROWS, 500)
    finally:
        worker.stop()

    restored = dataclasses.replace(settings, data_dir=tmp_path / "restored-data")
    missing = cli(restored, "restore", snapshot + "-missing")
    assert missing.returncode == 1 and "snap-missing" in missing.stderr
    done = cli(restored, "restore", snapshot)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["restored_shards"] == sorted(offsets)
    second = WorkerProcess(restored, tmp_path / "second.log").start()
    try:
        assert export_ids(second, tmp_path, "restored") == list(range(ROWS + 500))
        replays = [line for line in second.log_text().splitlines() if "replaying a shard" in line]
        assert replays and all(f"from={offsets[int(line.split('shard=')[1].split()[0])] + 1}" in line
                               for line in replays)  # from the snapshot's offsets, not from the beginning
    finally:
        second.stop()
