"""``make bench``: every scenario through the real pipeline, next to the in-process limit measured in the same run.

The pipeline is started as a user starts it (``harper-pipeline up``: the
embedded broker and one worker process per core, ``PIPELINE_WORKER_PROCESSES``)
on free ports and a fresh data directory; every operation is sent to its
Operations API and timed from the request to the job's COMPLETE (polled with
``get_job``, as Harper clients do). The peak RSS of each worker process is
reset before each scenario and read after it: the table gives the largest
(the 300 MB bound is per process) and their sum (peaks of different moments
added up: an upper bound of what the processes held at once).

    python bench/run.py [--rows 1000000] [--record] [--only load_insert_1m,export_json_1m] [--processes 1,2]
                        [--ports-from 59940]
    BENCH_HARPER=1 also runs a real Harper 4.7 (its own, on free ports: not the shared oracle)
"""
from __future__ import annotations

import argparse
import base64
import csv
import dataclasses
import json
import os
import platform
import socket
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
#: the bench's own Harper: its own root and ports, so a shared oracle (the script's default directory) is never
#: started over or stopped; it borrows that directory's npm install when there is one
HARPER_DIR = DATA / "harper"
SHARED_HARPER_MODULES = Path("/tmp/harper-oracle/node_modules")


@dataclass
class Result:
    scenario: str
    rows: int
    seconds: float
    megabytes: float
    #: the largest peak RSS of a worker process, and the sum of their peaks
    rss_mb: float | None
    rss_sum_mb: float | None
    #: CPU seconds (user + system) the worker processes and the broker spent on the scenario: on a shared,
    #: busy machine the work done, where wall time also measures the neighbours
    cpu_s: float | None
    limit: float | None
    #: worker processes of the pipeline (None: Harper)
    processes: int | None = None

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

    def wait_ready(self, timeout: float = 300) -> None:
        """Until ``/health/ready`` answers 200: the worker has joined its group (a scenario timed before would
        include the rebalance of a process still joining)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "health/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"bench: {self.url} was not ready")

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
    """The peak resident memory of the pipeline's worker processes, reset between scenarios (Linux: clear_refs 5).

    ``up`` itself when it runs the one worker, else its children but the broker (read at each scenario: a
    process ``up`` started again has another pid)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self._cpu_at_reset = 0.0

    def pipeline(self) -> list[int]:
        """``up`` and every process under it (the broker, the workers and their parse processes)."""
        found, todo = [], [self.pid] if self.pid is not None else []
        while todo:
            pid = todo.pop()
            found.append(pid)
            try:
                todo += (int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
            except OSError:
                pass
        return found

    def cpu(self) -> float:
        total = 0.0
        for pid in self.pipeline():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        return total

    def workers(self) -> list[int]:
        if self.pid is None:
            return []
        try:
            children = [int(c) for c in Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()]
        except OSError:
            return [self.pid]
        workers = [c for c in children if b"pipeline" in _cmdline(c) and b"pipeline.parsing" not in _cmdline(c)]
        return workers or [self.pid]

    def reset(self) -> None:
        self._cpu_at_reset = self.cpu()
        for pid in self.workers():
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            except OSError:
                pass

    def cpu_since_reset(self) -> float | None:
        return self.cpu() - self._cpu_at_reset if self.pid is not None else None

    def read(self) -> tuple[float | None, float | None]:
        """(the largest peak, the sum of the peaks) in MB."""
        peaks = []
        for pid in self.workers():
            try:
                status = Path(f"/proc/{pid}/status").read_text().splitlines()
            except OSError:
                continue
            peaks += [int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:")]
        return (max(peaks), sum(peaks)) if peaks else (None, None)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


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


def size_name(rows: int) -> str:
    """The large data set's suffix in the scenarios' names (never the small one's, 100k)."""
    name = f"{rows // 1_000_000}m" if rows % 1_000_000 == 0 else f"{rows // 1000}k"
    return "100k_large" if name == "100k" else name


def scenario_names(large_rows: int) -> list[str]:
    size = size_name(large_rows)
    return ["load_100k", "export_json_100k", f"load_insert_{size}", f"load_upsert_{size}", "data_load_5mb",
            f"export_json_{size}", f"export_csv_{size}", "export_selective_1pct", "delete_before_half"]


def needed(large_rows: int, only: set[str] | None) -> tuple[set[str], set[str]]:
    """(the scenarios to time, the ones to run untimed because those need their data)."""
    names = scenario_names(large_rows)
    timed = set(names) if only is None else only & set(names)
    load_large = names[2]
    needs = {"export_json_100k": {"load_100k"}, **{name: {load_large} for name in names[3:] if name != "data_load_5mb"}}
    return timed, set().union(*(needs.get(name, set()) for name in timed)) - timed


def run_scenarios(api: Api, peak: Peak, sets: dict[str, Path], out: Path, limits: dict[str, float] | None,
                  only: set[str] | None = None) -> list[Result]:
    results: list[Result] = []
    large_rows = lines_of(sets["large"])
    wanted, setup = needed(large_rows, only)

    def timed(name: str, body: dict, rows: int | None, megabytes: float | None, kind: str) -> dict | None:
        if name not in wanted:
            if name in setup:
                print(f"  {name}: run untimed, for the data of what follows", file=sys.stderr)
                return api.job(body)[0]
            return None
        peak.reset()
        record, seconds = api.job(body)
        count = rows if rows is not None else _count(record)
        size = megabytes if megabytes is not None else mb(Path(record["result"]["path"]))
        ratio = count / seconds / limits[kind] if limits else None
        results.append(Result(name, count, seconds, size, *peak.read(), peak.cpu_since_reset(), ratio))
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
    size = size_name(large_rows)
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
    if "delete_before_half" not in wanted:
        return results
    [middle] = api.ok({"operation": "search_by_hash", "database": "bench", "table": "large",
                       "hash_values": [large_rows // 2], "get_attributes": ["__createdtime__"]})
    created = middle.get("__createdtime__")
    if created is None:  # seen once from a Harper 4.7 after the loads above: no delete is timed rather than no table
        print(f"  delete_before_half: skipped, the search of key {large_rows // 2} gave no __createdtime__: {middle}",
              file=sys.stderr)
        return results
    date = datetime.fromtimestamp(created / 1000, timezone.utc).isoformat()
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


def start_pipeline(work: Path, processes: int | None, run: int) -> tuple[subprocess.Popen, Api]:
    """``harper-pipeline up`` on a fresh data directory; ``processes``: its worker processes (None: the default)."""
    api_port = free_ports(1)
    count = processes or os.cpu_count() or 1
    own_ports = free_ports(count)  # each process's own port, to wait until every one is ready
    data = work / f"var-{run}"
    env = {**os.environ, "PIPELINE_DATA_DIR": str(data), "PIPELINE_EMBEDDED_PORT": str(free_ports(1)),
           "PIPELINE_HTTP_PORT": str(api_port), "PIPELINE_ALLOWED_DIRS": f"{DATA}:{work}",
           "HDB_ADMIN_USERNAME": "admin", "HDB_ADMIN_PASSWORD": "password", "PIPELINE_LOG_LEVEL": "warning",
           "PIPELINE_WORKER_PROCESSES": str(count),
           **({"PIPELINE_PROCESS_PORTS_FROM": str(own_ports)} if count > 1 else {})}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    log = open(work / f"pipeline-{run}.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "up"], env=env, stdout=log, stderr=log,
                               start_new_session=True)
    api = Api(api_port)
    api.wait_up()
    for port in range(own_ports, own_ports + count) if count > 1 else [api_port]:
        Api(port).wait_ready()
    return process, api


#: where the bench's ports start (``--ports-from``); 0: wherever the kernel finds free ports
PORTS_FROM = 0


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports (from :data:`PORTS_FROM` on, when set: several people's
    pipelines on one machine each keep to their own range, where ports the kernel picks could land on a port
    another one is about to bind)."""
    global PORTS_FROM
    while True:
        first = free_port() if not PORTS_FROM else PORTS_FROM
        if PORTS_FROM:
            PORTS_FROM += count
        sockets = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()


def run_harper(sets: dict[str, Path], out: Path, only: set[str] | None) -> list[Result]:
    port = free_ports(1)
    HARPER_DIR.mkdir(parents=True, exist_ok=True)
    modules = HARPER_DIR / "node_modules"
    if not modules.exists() and (SHARED_HARPER_MODULES / "harperdb").is_dir():
        modules.symlink_to(SHARED_HARPER_MODULES)
    # its own directory (root, pid files) and ports: the script's defaults are the shared oracle's
    env = {**os.environ, "ORACLE_PORT": str(port), "ORACLE_DIR": str(HARPER_DIR)}
    subprocess.run(["bash", str(ORACLE), "start"], env=env, check=True)
    try:
        return run_scenarios(Api(port), Peak(None), sets, out, None, only)
    finally:
        subprocess.run(["bash", str(ORACLE), "stop"], env=env)


def table(results: list[Result], harper: dict[str, Result]) -> str:
    """One line per scenario and run; × 1 process: the rows/s against the same scenario in the latest run before
    with one worker process (``--processes 1,2,1,2`` pairs each run of 2 with the run of 1 just before it)."""
    single: dict[str, Result] = {}
    lines = ["| scenario | processes | rows | wall s | rows/s | MB/s | CPU s | peak RSS MB: largest / sum | × limit | "
             "× 1 process | × Harper |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        if r.processes == 1:
            single[r.scenario] = r
        versus, one = harper.get(r.scenario), (single.get(r.scenario) if r.processes != 1 else None)
        lines.append(f"| {r.scenario} | {r.processes} | {r.rows:,} | {r.seconds:.1f} | {r.rows_per_s:,.0f} | "
                     f"{r.megabytes / r.seconds:.1f} | {r.cpu_s or 0:.0f} | {r.rss_mb or 0:.0f} / {r.rss_sum_mb or 0:.0f} | "
                     f"{r.limit:.2f} | {f'{r.rows_per_s / one.rows_per_s:.2f}' if one else '–'} | "
                     f"{f'{r.rows_per_s / versus.rows_per_s:.1f}' if versus else '–'} |")
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
    parser.add_argument("--only", type=lambda v: {s.strip() for s in v.split(",") if s.strip()},
                        help="time only these scenarios (comma-separated; what they read is loaded untimed)")
    parser.add_argument("--processes", type=lambda v: [int(n) for n in v.split(",")],
                        help="run the pipeline once per count of worker processes, in turn, e.g. 1,2 or 1,2,1,2 "
                             "(default: once, with `up`'s default of one per core)")
    parser.add_argument("--ports-from", type=int, default=0,
                        help="take the pipeline's and Harper's ports from this one on (default: any free ports)")
    args = parser.parse_args()
    global PORTS_FROM
    PORTS_FROM = args.ports_from
    sets = data_sets(args.rows)
    unknown = (args.only or set()) - set(scenario_names(lines_of(sets["large"])))
    if unknown:
        parser.error(f"no scenario {', '.join(sorted(unknown))}; they are: "
                     f"{', '.join(scenario_names(lines_of(sets['large'])))}")
    print("measuring the in-process limit", file=sys.stderr)
    limits = limit.measure(sets["large"])
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="hp-bench-") as tmp:
        work = Path(tmp)
        (work / "out").mkdir()
        for run, processes in enumerate(args.processes or [None]):
            process, api = start_pipeline(work, processes, run)
            try:
                print(f"running the pipeline ({processes or 'default'} worker processes)", file=sys.stderr)
                results += [dataclasses.replace(r, processes=processes or len(Peak(process.pid).workers()))
                            for r in run_scenarios(api, Peak(process.pid), sets, work / "out", limits, args.only)]
            finally:
                process.terminate()
                process.wait(60)
        harper = {}
        if os.environ.get("BENCH_HARPER") == "1":
            print("running a real Harper 4.7 of the bench's own", file=sys.stderr)
            harper = {r.scenario: r for r in run_harper(sets, work / "out", args.only)}
    report = table(results, harper)
    print(f"\nin-process limit: load {limits['load']:,.0f} rows/s, export {limits['export']:,.0f} rows/s\n")
    print(report)
    for r in results:
        print(f"BENCH {r.scenario} processes={r.processes} rows_per_s={r.rows_per_s:.0f} rss_mb={r.rss_mb or 0:.0f} "
              f"rss_sum_mb={r.rss_sum_mb or 0:.0f} cpu_s={r.cpu_s or 0:.1f} limit_ratio={r.limit:.3f}"
              + (f" harper_ratio={r.rows_per_s / harper[r.scenario].rows_per_s:.2f}" if r.scenario in harper else ""))
    if args.record:
        with open(HERE / "RESULTS.md", "a") as out:
            out.write(f"\n## {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC — {machine()}\n\n"
                      f"In-process limit: load {limits['load']:,.0f} rows/s, export {limits['export']:,.0f} rows/s."
                      f"\n\n{report}\n")


if __name__ == "__main__":
    main()
