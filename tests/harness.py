"""Running real workers for the integration tests, and talking to them the way users do."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import fcntl
from http import server as http_server
import json
import os
import signal
import socket
import subprocess
import sys
import termios
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.config import Settings
from pipeline.kafka import topics
from pipeline.kafka.broker import die_with
from pipeline.records import JobEvent

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CONFORMANCE = SHARED / "conformance"


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process these settings."""
    env = dict(os.environ)
    env.update({
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "PIPELINE_APP_ID": settings.app_id,
        "PIPELINE_TOPIC_PREFIX": settings.topic_prefix,
        "PIPELINE_DATA_DIR": str(settings.data_dir),
        "PIPELINE_SHARD_PARTITIONS": str(settings.shard_partitions),
        "PIPELINE_OPERATIONS_PARTITIONS": str(settings.operations_partitions),
        "PIPELINE_BATCH_SIZE": str(settings.batch_size),
        "PIPELINE_CHECKPOINT_BATCHES": str(settings.checkpoint_batches),
        "PIPELINE_ALLOWED_DIRS": os.pathsep.join(str(p) for p in settings.allowed_dirs),
        "PIPELINE_HTTP_HOST": settings.http_host,
        "PIPELINE_HTTP_PORT": str(settings.http_port),
        "HDB_ADMIN_USERNAME": settings.admin_username,
        "HDB_ADMIN_PASSWORD": settings.admin_password,
        "PIPELINE_REBALANCE_TIMEOUT": str(settings.rebalance_timeout),
        "PIPELINE_WORKER_PROCESSES": str(settings.worker_processes),
        "PIPELINE_PROCESS_PORTS_FROM": str(settings.process_ports_from),
        "PIPELINE_LOG_LEVEL": "info",
        "PIPELINE_URL_ALLOWED_NETWORKS": ",".join(settings.url_allowed_networks),
        "PIPELINE_URL_CONNECT_TIMEOUT": str(settings.url_connect_timeout),
        "PIPELINE_URL_IDLE_TIMEOUT": str(settings.url_idle_timeout),
        "PIPELINE_URL_MAX_BYTES": str(settings.url_max_bytes),
        "PIPELINE_S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "PIPELINE_S3_PART_BYTES": str(settings.s3_part_bytes),
        "PIPELINE_MAX_RECORD_BYTES": str(settings.max_record_bytes),
        "PIPELINE_MAX_ATTRIBUTES": str(settings.max_attributes),
        "PIPELINE_MAX_BODY_BYTES": str(settings.max_body_bytes),
        "PIPELINE_MAX_JSON_BODY_BYTES": str(settings.max_json_body_bytes),
    })
    return env


def cli(settings: Settings, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], env=settings_env(settings),
                          capture_output=True, text=True, timeout=timeout)


def http(url: str, data: bytes | None = None, headers: dict[str, str] | None = None,
         auth: str | None = "admin:password", timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request (a POST when there is ``data``) with Basic ``auth``: status, headers and body, errors too."""
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@dataclass
class Answer:
    status: int
    body: Any


class Client:
    """Harper's Operations API over HTTP, as a Harper client uses it."""

    def __init__(self, url: str, auth: str = "admin:password") -> None:
        self.url = url
        self.auth = "Basic " + base64.b64encode(auth.encode()).decode()

    def raw(self, data: bytes, auth: str | None = None) -> Answer:
        request = urllib.request.Request(self.url, data=data, method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", auth or self.auth)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return Answer(response.status, json.loads(response.read() or b"null"))
        except urllib.error.HTTPError as err:
            return Answer(err.code, json.loads(err.read() or b"null"))

    def op(self, body: dict, **kwargs) -> Answer:
        return self.raw(json.dumps(body).encode(), **kwargs)

    def ok(self, body: dict) -> Any:
        answer = self.op(body)
        assert answer.status == 200, (body.get("operation"), answer)
        return answer.body

    def job(self, job_id: str, timeout: float = 120) -> dict:
        """Poll get_job (as Harper's own tests do) until the job has ended."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.ok({"operation": "get_job", "id": job_id})
            if found and found[0]["status"] in ("COMPLETE", "ERROR"):
                return found[0]
            assert time.monotonic() < deadline, f"job {job_id} did not end: {found}"
            time.sleep(0.1)

    def run_job(self, body: dict, timeout: float = 120) -> dict:
        started = self.ok(body)
        assert started["message"] == f"Starting job with id {started['job_id']}"
        return self.job(started["job_id"], timeout)


class WorkerProcess:
    """``harper-pipeline worker`` in a child process, stopped with a bounded wait then SIGKILL.

    ``program``: what runs the command (this checkout's ``python -m pipeline`` unless given), in ``cwd``.
    """

    def __init__(self, settings: Settings, log_path: Path, env: dict[str, str] | None = None,
                 command: str = "worker", program: list[str] | None = None, cwd: Path | None = None) -> None:
        self.settings = settings
        self.log_path = log_path
        self.env = env or {}
        self.command = command
        self.program = program or [sys.executable, "-m", "pipeline"]
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None
        self.client = Client(f"http://{settings.http_host}:{settings.http_port}/",
                             f"{settings.admin_username}:{settings.admin_password}")

    def start(self, timeout: float = 60) -> "WorkerProcess":
        return self.launch().wait_until_answering(timeout)

    def launch(self) -> "WorkerProcess":
        """Start the process, without waiting for it to answer."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        env = {**settings_env(self.settings), **self.env}
        if self.command == "up":  # the whole embedded pipeline: it starts a broker of its own
            del env["KAFKA_BOOTSTRAP_SERVERS"]
        # dies with the test run however it ends (a killed pytest never runs the fixtures' stop)
        self.proc = subprocess.Popen([*self.program, self.command], env=env, cwd=self.cwd,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=die_with(os.getpid()))
        return self

    def wait_until_answering(self, timeout: float = 60) -> "WorkerProcess":
        """Wait until the launched process answers operations."""
        assert self.proc is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, f"worker exited:\n{self.log_path.read_text()[-3000:]}"
            try:
                if self.client.op({"operation": "describe_all"}).status == 200:
                    return self
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                self.kill()  # a worker that never answered must not outlive the test
                raise AssertionError(f"worker did not answer:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self, timeout: float = 15) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def logs_on_failure(workers: list[WorkerProcess], tail: int = 6000):
    """Print the end of each worker's log if the block fails (pytest shows it beside the failure)."""
    try:
        yield
    except BaseException:
        for worker in workers:
            pid = worker.proc.pid if worker.proc else None
            state = "running" if worker.proc and worker.proc.poll() is None else "stopped"
            print(f"===== {worker.log_path.name} (pid {pid}, {state}): last {tail} characters =====")
            print(worker.log_text()[-tail:] if worker.log_path.exists() else "(no log)")
        raise


def wait_until(found: Callable[[], Any], what: str, timeout: float = 120) -> Any:
    """Poll ``found()`` until it returns something truthy (for what only a topic or a log can show)."""
    deadline = time.monotonic() + timeout
    while not (result := found()):
        assert time.monotonic() < deadline, f"no {what}"
        time.sleep(0.2)
    return result


def job_events(settings: Settings, job_id: str) -> list[dict]:
    """Every event of one job on ``job-status``, in order."""
    events = [dataclasses.asdict(JobEvent.decode(value)) for value in read_everything(settings, "job-status")]
    return [ev for ev in events if ev["job_id"] == job_id]


FINAL_KINDS = {"COMPLETE", "ERROR"}


def final_events(settings: Settings, job_ids: set[str], timeout: float) -> dict[str, list[str]]:
    """Follow job-status until every job of ``job_ids`` has ended, or ``timeout``: job id -> its event kinds."""
    async def follow() -> dict[str, list[str]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            spec = topics.topic_specs(settings)["job-status"]
            parts = [TopicPartition(spec.topic, p) for p in range(spec.partitions)]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            kinds: dict[str, list[str]] = {job_id: [] for job_id in job_ids}
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not all(set(seen) & FINAL_KINDS for seen in kinds.values()):
                for messages in (await consumer.getmany(timeout_ms=500)).values():
                    for message in messages:
                        ev = JobEvent.decode(message.value)
                        if ev.job_id in kinds:
                            kinds[ev.job_id].append(ev.event)
            return kinds
        finally:
            await consumer.stop()
    return asyncio.run(follow())


def read_everything(settings: Settings, name: str) -> list[bytes]:
    """Every value of a topic (with its headers), from the beginning to the end as of now."""
    async def read() -> list[bytes]:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            spec = topics.topic_specs(settings)[name]
            parts = [TopicPartition(spec.topic, p) for p in range(spec.partitions)]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            ends = await consumer.end_offsets(parts)
            values = []
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                for messages in (await consumer.getmany(timeout_ms=500)).values():
                    values += [bytes(m.value or b"") + b"".join(v for _, v in m.headers) for m in messages]
            return values
        finally:
            await consumer.stop()
    return asyncio.run(read())


class S3Proxy:
    """A TCP proxy in front of S3 that closes each connection after ``down`` bytes to the client or ``up`` to
    S3, or holds what goes up after ``hold_up`` bytes (setting ``holding``) until ``release`` is set."""

    def __init__(self, target: str) -> None:
        self.target = ("127.0.0.1", int(target.rsplit(":", 1)[1]))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.down: int | None = None
        self.up: int | None = None
        self.hold_up: int | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for source, sink, upward in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pump, args=(source, sink, upward, (client, server)),
                                 daemon=True).start()

    def _pump(self, source, sink, upward: bool, both) -> None:
        sent = 0
        try:
            while data := source.recv(65536):
                if upward and self.hold_up is not None and sent + len(data) > self.hold_up:
                    self.holding.set()
                    self.release.wait(120)
                    break
                limit = self.up if upward else self.down
                if limit is not None and sent + len(data) > limit:
                    sink.sendall(data[:limit - sent])
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for sock in both:  # the cut: both directions, at once
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.release.set()
        self.listener.close()


#: a load to catch mid-way: rows of about 135 bytes, whose primary key is not in the file (it is generated, and
#: must not be generated twice). The CSV reader reads 1 MiB blocks, so from the first 3/4 of the body
#: (``HeldSource``'s first part) it gets one block, some 7,700 rows: past the checkpoint at 6,000 (10 batches of
#: 200 rows, at 2,000 rows a checkpoint) by some 1,700 rows, whose commands a worker taking over sends again.
HELD_ROWS = 12_000
HELD_BODY = ("name,n,pad\n" + "".join(f"dog {i},{i},{'x' * 120}\n" for i in range(HELD_ROWS))).encode()


class HeldSource:
    """A real HTTP server for loads that must be caught mid-way.

    The first request of each path gets the first ``first_part`` bytes of
    ``body`` (``stalled`` is released) and is held until ``release`` is set;
    later requests get the whole body, or a 404 for a path in ``once``. A path
    in ``redirects`` answers 302 to its target.
    """

    def __init__(self, body: bytes = HELD_BODY, first_part: int | None = None, once: tuple[str, ...] = (),
                 redirects: dict[str, str] | None = None) -> None:
        self.body = body
        self.first_part = len(body) * 3 // 4 if first_part is None else first_part
        self.once, self.redirects = once, redirects or {}
        self.requests: dict[str, int] = {}
        self.stalled = threading.Semaphore(0)
        self.release = threading.Event()
        source = self

        class Handler(http_server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 - the http.server API
                source._answer(self)

        self._httpd = http_server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def _answer(self, handler: http_server.BaseHTTPRequestHandler) -> None:
        count = self.requests[handler.path] = self.requests.get(handler.path, 0) + 1
        if handler.path in self.redirects or (count > 1 and handler.path in self.once):
            handler.send_response(302 if handler.path in self.redirects else 404)
            if handler.path in self.redirects:
                handler.send_header("Location", self.redirects[handler.path])
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/csv")
        handler.send_header("Content-Length", str(len(self.body)))
        handler.end_headers()
        if count > 1:
            handler.wfile.write(self.body)
            return
        handler.wfile.write(self.body[:self.first_part])
        handler.wfile.flush()
        self.stalled.release()
        self.release.wait(120)
        with contextlib.suppress(OSError):  # the worker that asked may be dead by now
            handler.wfile.write(self.body[self.first_part:])

    def close(self) -> None:
        self.release.set()
        self._httpd.shutdown()


def unread_stdin(pid: int) -> int:
    """Bytes sent to a process's stdin (a pipe) that it has not read yet (the pipe's FIONREAD)."""
    fd = os.open(f"/proc/{pid}/fd/0", os.O_RDONLY | os.O_NONBLOCK)
    try:
        return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), "little")
    finally:
        os.close(fd)


class StopsAfter:
    """A shard store's database that stops (as a killed worker does) before its ``writes``-th write."""

    def __init__(self, db, writes: int) -> None:
        self._db, self._writes = db, writes

    def write(self, batch) -> None:
        self._writes -= 1
        if self._writes == 0:
            raise KeyboardInterrupt("killed")
        self._db.write(batch)

    def __getattr__(self, name):
        return getattr(self._db, name)
