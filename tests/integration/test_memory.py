"""Memory does not grow with the data: a worker answering SQL over a large table, counts and the whole table,
stays under the 300 MB bound.

The peak is the worker's VmHWM from /proc, reset after the load (``clear_refs``), so it is the queries' own.
"""
from __future__ import annotations

from pathlib import Path

from harness import WorkerProcess

ROWS = 150_000
BOUND_MB = 300


def peak_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024


def test_sql_over_a_large_table_stays_within_the_memory_bound(settings, tmp_path):
    source = tmp_path / "rows.csv"
    with open(source, "w") as out:
        out.write("id,name,n,pad\n")
        for i in range(ROWS):
            out.write(f"{i},name {i},{i % 97},{'x' * 60}\n")
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        client = worker.client
        client.ok({"operation": "create_table", "database": "mem", "table": "t", "primary_key": "id"})
        job = client.run_job({"operation": "csv_file_load", "database": "mem", "table": "t",
                              "file_path": str(source)}, timeout=300)
        assert job["message"] == f"successfully loaded {ROWS} of {ROWS} records"
        Path(f"/proc/{worker.proc.pid}/clear_refs").write_text("5")  # the peak from here on
        assert client.ok({"operation": "sql", "sql": "SELECT COUNT(*) AS c FROM mem.t"}) == [{"c": ROWS}]
        assert client.ok({"operation": "sql", "sql": "SELECT COUNT(*) FROM mem.t WHERE n = 3"}) == [
            {"COUNT(*)": sum(1 for i in range(ROWS) if i % 97 == 3)}]
        assert client.ok({"operation": "describe_table", "database": "mem", "table": "t"})["record_count"] == ROWS
        groups = client.ok({"operation": "sql", "sql": "SELECT n, COUNT(*) AS c FROM mem.t GROUP BY n"})
        assert len(groups) == 97 and sum(g["c"] for g in groups) == ROWS
        # a whole table as the answer: streamed as it is read, in key order
        everything = client.ok({"operation": "sql", "sql": "SELECT * FROM mem.t"})
        assert [row["id"] for row in everything] == list(range(ROWS)) and everything[-1]["name"] == f"name {ROWS - 1}"
        peak = peak_mb(worker.proc.pid)
        assert peak <= BOUND_MB, f"the worker peaked at {peak:.0f} MB"
    finally:
        worker.stop()
