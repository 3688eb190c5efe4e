"""``make bench``: every scenario through the real pipeline, next to the in-process limit measured in the same run.

The pipeline is started as a user starts it (``harper-pipeline up``: the
embedded broker and one worker) on free ports and a fresh data directory;
every operation is sent to its Operations API and timed from the request to
the job's COMPLETE (polled with ``get_job``, as Harper clients do). The
worker's peak RSS is reset before each scenario and read after it.

    python bench/run.py [--rows 1000000] [--record]      BENCH_HARPER=1 also runs a real Harper
"""
from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
import limit  # noqa: E402
from pipeline.kafka.broker import free_port  # noqa: E402

DATA = HERE / "data"
ORACLE = HERE.parent.parent / "shared" / "oracle" / "harper.sh"


@dataclass
class Result:
    scenario: str
    rows: int
    seconds: float
    megabytes: float
    rss_mb: float | None
    limit: float | None

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


class Api:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/"
        self.auth = "Basic " + base64.b64encode(b"admin:password").decode()

    def call(self, body: dict, timeout: float = 1800) -> tuple[int, object]:
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "Authorization": self.auth})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def ok(self, body: dict) -> object:
        status, answer = self.call(body)
        if status != 200:
            raise SystemExit(f"bench: {body['operation']} failed: {status} {answer}")
        return answer

    def wait_up(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.call({"operation": "describe_all"}, timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"bench: nothing answered on {self.url}")

    def job(self, body: dict) -> tuple[dict, float]:
        """Run a job; (its final record, seconds from the request to the end)."""
        started = time.perf_counter()
        job_id = self.ok(body)["job_id"]
        while True:
            [record] = self.ok({"operation": "get_job", "id": job_id})
            if record["status"] in ("COMPLETE", "ERROR"):
                seconds = time.perf_counter() - started
                if record["status"] == "ERROR":
                    raise SystemExit(f"bench: {body['operation']} ended in ERROR: {record['message']}")
                return record, seconds
            time.sleep(0.05)


class Peak:
    """The peak resident memory of one process, reset between scenarios (Linux: clear_refs 5)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid

    def reset(self) -> None:
        if self.pid is not None:
            try:
                Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            except OSError:
                pass

    def read(self) -> float | None:
        if self.pid is None:
            return None
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None


def data_sets(rows: int) -> dict[str, Path]:
    """The seeded CSVs (made once, not committed) and a 5 MB csv_data_load body cut from the small one."""
    sets = {"small": DATA / "bench-100000.csv", "large": DATA / f"bench-{rows}.csv"}
    for path, count in ((sets["small"], 100_000), (sets["large"], rows)):
        if not path.exists():
            print(f"generating {path.name}", file=sys.stderr)
            generate.write(count, path)
    body = DATA / "body-5mb.csv"
    if not body.exists():
        with open(sets["small"], newline="", encoding="utf-8") as source, open(body, "w", newline="") as out:
            reader, writer = csv.reader(source), csv.writer(out)
            for row in reader:
                writer.writerow(row)
                if out.tell() >= 5 * 1024 ** 2:
                    break
    sets["body"] = body
    return sets


def lines_of(path: Path) -> int:
    with open(path, newline="", encoding="utf-8") as source:
        return sum(1 for _ in csv.reader(source)) - 1


def mb(path: Path) -> float:
    return path.stat().st_size / 1024 ** 2


def run_scenarios(api: Api, peak: Peak, sets: dict[str, Path], out: Path,
                  limits: dict[str, float] | None, harper_only: bool = False) -> list[Result]:
    results: list[Result] = []

    def timed(name: str, body: dict, rows: int | None, megabytes: float | None, kind: str) -> dict:
        peak.reset()
        record, seconds = api.job(body)
        count = rows if rows is not None else _count(record)
        size = megabytes if megabytes is not None else mb(Path(record["result"]["path"]))
        ratio = count / seconds / limits[kind] if limits else None
        results.append(Result(name, count, seconds, size, peak.read(), ratio))
        print(f"  {name}: {count:,} rows in {seconds:.1f} s", file=sys.stderr)
        return record

    def search_all(table: str) -> dict:
        return {"operation": "search_by_value", "database": "bench", "table": table,
                "search_attribute": "id", "search_value": "*", "get_attributes": ["*"]}

    api.call({"operation": "drop_database", "database": "bench"})  # a Harper kept from an earlier run
    api.ok({"operation": "create_database", "database": "bench"})
    for table in ("small", "large", "body"):
        api.ok({"operation": "create_table", "database": "bench", "table": table, "primary_key": "id"})
    small, large = sets["small"], sets["large"]
    timed("load_100k", {"operation": "csv_file_load", "database": "bench", "table": "small",
                        "file_path": str(small)}, 100_000, mb(small), "load")
    timed("export_json_100k", {"operation": "export_local", "format": "json", "path": str(out),
                               "filename": "small", "search_operation": search_all("small")}, 100_000, None, "export")
    if harper_only:
        return results
    large_rows = lines_of(large)
    size = f"{large_rows // 1_000_000}m" if large_rows % 1_000_000 == 0 else f"{large_rows // 1000}k"
    timed(f"load_insert_{size}", {"operation": "csv_file_load", "database": "bench", "table": "large",
                             "file_path": str(large)}, large_rows, mb(large), "load")
    timed(f"load_upsert_{size}", {"operation": "csv_file_load", "action": "upsert", "database": "bench",
                             "table": "large", "file_path": str(large)}, large_rows, mb(large), "load")
    body = sets["body"].read_text(encoding="utf-8")
    timed("data_load_5mb", {"operation": "csv_data_load", "database": "bench", "table": "body", "data": body},
          lines_of(sets["body"]), mb(sets["body"]), "load")
    for fmt in ("json", "csv"):
        timed(f"export_{fmt}_{size}", {"operation": "export_local", "format": fmt, "path": str(out),
                                   "filename": f"large-{fmt}", "search_operation": search_all("large")},
              large_rows, None, "export")
    selective = {**search_all("large"), "search_attribute": "age", "search_value": 42}
    # a selective export or a delete is as fast as its scan: rows/s counts the rows scanned
    timed("export_selective_1pct", {"operation": "export_local", "format": "json", "path": str(out),
                                    "filename": "selective", "search_operation": selective}, large_rows, None,
          "export")
    [middle] = api.ok({"operation": "search_by_hash", "database": "bench", "table": "large",
                       "hash_values": [large_rows // 2], "get_attributes": ["__createdtime__"]})
    date = datetime.fromtimestamp(middle["__createdtime__"] / 1000, timezone.utc).isoformat()
    timed("delete_before_half", {"operation": "delete_records_before", "database": "bench", "table": "large",
                                 "date": date}, large_rows, 0.0, "export")
    return results


def _count(record: dict) -> int:
    """Rows named by a job's message: 'successfully loaded N of M' or 'N of M records successfully deleted'."""
    message = record.get("message") or ""
    if message.startswith("Successfully completed job"):
        path = Path(record["result"]["path"])
        text = path.read_bytes()
        return len(json.loads(text)) if path.suffix == ".json" else text.count(b"\n")
    words = message.split()
    return int(words[2] if words[0] == "successfully" else words[0])


def start_pipeline(work: Path, sets: dict[str, Path]) -> tuple[subprocess.Popen, Api]:
    api_port = free_port()
    env = {**os.environ, "PIPELINE_DATA_DIR": str(work / "var"), "PIPELINE_EMBEDDED_PORT": str(free_port()),
           "PIPELINE_HTTP_PORT": str(api_port), "PIPELINE_ALLOWED_DIRS": f"{DATA}:{work}",
           "HDB_ADMIN_USERNAME": "admin", "HDB_ADMIN_PASSWORD": "password", "PIPELINE_LOG_LEVEL": "warning"}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    log = open(work / "pipeline.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "up"], env=env, stdout=log, stderr=log,
                               start_new_session=True)
    api = Api(api_port)
    api.wait_up()
    return process, api


def run_harper(sets: dict[str, Path], out: Path) -> list[Result]:
    port = free_port()
    env = {**os.environ, "ORACLE_PORT": str(port)}  # its default directory keeps the npm install between runs
    subprocess.run(["bash", str(ORACLE), "start"], env=env, check=True)
    try:
        api = Api(port)
        return run_scenarios(api, Peak(None), sets, out, None, harper_only=True)
    finally:
        subprocess.run(["bash", str(ORACLE), "stop"], env=env)


def table(results: list[Result], harper: dict[str, Result]) -> str:
    lines = ["| scenario | rows | wall s | rows/s | MB/s | peak RSS MB | × limit | × Harper |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        versus = harper.get(r.scenario)
        lines.append(f"| {r.scenario} | {r.rows:,} | {r.seconds:.1f} | {r.rows_per_s:,.0f} | "
                     f"{r.megabytes / r.seconds:.1f} | {r.rss_mb or 0:.0f} | "
                     f"{r.limit:.2f} | {f'{r.rows_per_s / versus.rows_per_s:.1f}' if versus else '–'} |")
    return "\n".join(lines)


def machine() -> str:
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "0")
    return (f"{platform.system()} {platform.release()}, {os.cpu_count()} cores, {int(memory) // 1024 ** 2} GiB, "
            f"Python {platform.python_version()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the large data set")
    parser.add_argument("--record", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()
    sets = data_sets(args.rows)
    print("measuring the in-process limit", file=sys.stderr)
    limits = limit.measure(sets["large"])
    with tempfile.TemporaryDirectory(prefix="hp-bench-") as tmp:
        work = Path(tmp)
        (work / "out").mkdir()
        process, api = start_pipeline(work, sets)
        try:
            print("running the pipeline", file=sys.stderr)
            results = run_scenarios(api, Peak(process.pid), sets, work / "out", limits)
        finally:
            process.terminate()
            process.wait(60)
        harper = {}
        if os.environ.get("BENCH_HARPER") == "1":
            print("running a real Harper (../shared/oracle)", file=sys.stderr)
            harper = {r.scenario: r for r in run_harper(sets, work / "out")}
    report = table(results, harper)
    print(f"\nin-process limit: load {limits['load']:,.0f} rows/s, export {limits['export']:,.0f} rows/s\n")
    print(report)
    for r in results:
        print(f"BENCH {r.scenario} rows_per_s={r.rows_per_s:.0f} rss_mb={r.rss_mb or 0:.0f} "
              f"limit_ratio={r.limit:.3f}" + (f" harper_ratio={r.rows_per_s / harper[r.scenario].rows_per_s:.2f}"
                                              if r.scenario in harper else ""))
    if args.record:
        with open(HERE / "RESULTS.md", "a") as out:
            out.write(f"\n## {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC — {machine()}\n\n"
                      f"In-process limit: load {limits['load']:,.0f} rows/s, export {limits['export']:,.0f} rows/s."
                      f"\n\n{report}\n")


if __name__ == "__main__":
    main()
