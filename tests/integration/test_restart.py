"""The embedded default keeps its data across restarts of broker and worker (`make run` stopped and started)."""
from __future__ import annotations

import json

from harness import CONFORMANCE, WorkerProcess
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
