"""``harper-pipeline up`` with several worker processes: starting them, restarting one that dies, stopping them.

One worker process is bound by its GIL (its parse thread and its event loop
take turns), so ``up`` runs one per core (``PIPELINE_WORKER_PROCESSES``), each
a full worker (``harper-pipeline worker --process N``) in the one consumer
group: the shards, and so the writing of one load, and the jobs are spread
over the processes as over workers on several machines.

- **One Operations API port.** ``up`` binds it once and every process accepts
  on that socket (inherited), so whichever process is least busy takes the
  next connection, and the port stays open while a process restarts. Every
  answer is the same whichever process gives it: reads catch up with the
  views before answering, and a search goes through ``shard-log`` after every
  write before it.
- **One directory of shard stores, shared.** Each process has its own data
  directory for the rest (``workers/N`` under ``PIPELINE_DATA_DIR``; process
  0 uses ``PIPELINE_DATA_DIR`` itself, and alone keeps a copy of the views),
  but the shard stores are one
  directory: a process opens the stores of the shards it is assigned and
  closes them when they are revoked (:mod:`pipeline.handover`). On the
  embedded broker, which forgets its log, a store is the only copy of its
  shard, so a store per process would lose the records of the shards that
  land elsewhere after a restart.
- **Process 0 goes first.** On a broker that lost its log, the process that
  finds the compacted topics empty writes its copy back and queues again the
  jobs that had not ended; the others, started at the same time, wait with
  their modules imported until it has (it says so on a pipe, and ``up`` tells
  them on theirs), so that happens once.
- **A process that dies is started again** (after 1 s, doubling to 30 s while
  it keeps dying before it is ready); meanwhile its partitions move to the
  others, which resume its jobs. ``up`` stopped (SIGTERM, SIGINT) stops every
  process within :data:`STOP_TIMEOUT`, then the broker; ``up`` killed takes
  every process with it (``PR_SET_PDEATHSIG``).
"""
from __future__ import annotations

import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from ..config import Settings
from ..errors import PipelineError
from ..kafka.broker import die_with

log = logging.getLogger("pipeline.cli")

#: seconds every process gets to stop, together, before it is killed
STOP_TIMEOUT = 10.0
#: the share of it kept for process 0, which stops last
FIRST_SHARE = 0.5
#: seconds before a process that died is started again: doubled each time it dies before it is ready
FIRST_RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 30.0
#: what a worker process writes on its ready pipe, and what ``up`` writes on the pipe the others wait on
READY = b"R"
GO = b"G"


class StartFailed(PipelineError):
    """The first worker process could not start: nothing can run."""


def listening_socket(settings: Settings) -> socket.socket:
    """The Operations API's socket, bound once for every process (and refused if the port is taken)."""
    try:
        return socket.create_server((settings.http_host, settings.http_port), backlog=1024)
    except OSError as err:
        raise StartFailed(f"cannot listen on {settings.http_host}:{settings.http_port} for the Operations API "
                          f"({err.strerror}); set PIPELINE_HTTP_PORT to a free port") from None


def signal_ready(fd: int) -> None:
    """In a worker process: tell ``up`` it is ready."""
    os.write(fd, READY)
    os.close(fd)


def wait_turn(fd: int) -> None:
    """In a worker process other than the first: wait until the first is ready (end if ``up`` is gone)."""
    go = os.read(fd, 1)
    os.close(fd)
    if go != GO:
        sys.exit("harper-pipeline: `up` ended before this worker process could start")


@dataclass
class Child:
    index: int
    proc: subprocess.Popen
    ready_fd: int
    #: the pipe it waits on before it starts (-1: none, or written)
    go_fd: int = -1
    ready: bool = False
    delay: float = FIRST_RESTART_DELAY


@dataclass
class Supervisor:
    settings: Settings
    #: the command that runs one worker process (arguments follow)
    program: list[str] = field(default_factory=lambda: [sys.executable, "-m", "pipeline", "worker"])

    def __post_init__(self) -> None:
        self.listener = listening_socket(self.settings)
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, Child] = {}
        #: process index -> (monotonic time it is due to start again, its delay)
        self.restarts: dict[int, tuple[float, float]] = {}
        self.stopping = False
        #: process 0 has been ready once: the others may start
        self.first_ready = False

    def run(self) -> None:
        """Start the processes, keep them running until SIGTERM or SIGINT, then stop them."""
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        os.set_blocking(wake_r, False)
        previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)}
        old_wakeup = signal.set_wakeup_fd(wake_w)
        self.selector.register(wake_r, selectors.EVENT_READ, None)
        try:
            for index in range(self.settings.worker_processes):
                self._start(index)
            while not self.stopping and not self.children[0].ready:
                self._step(wake_r, None)
                if 0 in self.restarts:
                    raise StartFailed("the first worker process exited before it was ready; its log is above")
            self.first_ready = True
            for child in self.children.values():
                self._let_go(child)
            while not self.stopping:
                due = min((at for at, _ in self.restarts.values()), default=None)
                self._step(wake_r, None if due is None else max(0.0, due - time.monotonic()))
                for index, (at, delay) in list(self.restarts.items()):
                    if at <= time.monotonic() and not self.stopping:
                        del self.restarts[index]
                        self._start(index, delay)
        finally:
            self._stop_all()
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.selector.close()
            os.close(wake_r)
            os.close(wake_w)
            self.listener.close()

    def _url(self) -> str:
        return f"http://{self.settings.http_host}:{self.settings.http_port}/"

    def _start(self, index: int, delay: float = FIRST_RESTART_DELAY) -> None:
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe() if index else (-1, -1)
        listen_fd = self.listener.fileno()
        command = [*self.program, "--process", str(index), "--ready-fd", str(ready_w), "--listen-fd", str(listen_fd)]
        if index or self.first_ready:  # a sibling serves (or will first): accept requests only once ready
            command.append("--listen-when-ready")
        try:
            # the same process group as `up`: a Ctrl-C in the terminal reaches every process at once
            proc = subprocess.Popen(command + (["--go-fd", str(go_r)] if index else []),
                                    pass_fds=(ready_w, listen_fd, *([go_r] if index else [])),
                                    stdin=subprocess.DEVNULL, preexec_fn=die_with(os.getpid()))
        finally:
            os.close(ready_w)
            if index:
                os.close(go_r)
        child = self.children[index] = Child(index, proc, ready_r, go_w, delay=delay)
        self.selector.register(ready_r, selectors.EVENT_READ, index)
        log.info("worker process started", extra={"worker": f"worker-{index}", "pid": proc.pid})
        if self.first_ready:
            self._let_go(child)

    def _let_go(self, child: Child) -> None:
        if child.go_fd >= 0:
            try:
                os.write(child.go_fd, GO)
            except BrokenPipeError:  # it died meanwhile: reaped as any other
                pass
            os.close(child.go_fd)
            child.go_fd = -1

    def _step(self, wake_r: int, timeout: float | None) -> None:
        """Wait for a signal or a process's readiness (or ``timeout``), and act on it."""
        for key, _ in self.selector.select(timeout):
            if key.data is None:
                for number in os.read(wake_r, 64):
                    if number in (signal.SIGTERM, signal.SIGINT) and not self.stopping:
                        self.stopping = True
                        log.info("stopping the worker processes", extra={"signal": signal.Signals(number).name})
                self._reap()
            else:
                child = self.children[key.data]
                if os.read(child.ready_fd, 1) == READY:
                    child.ready = True
                    log.info("worker process ready", extra={"worker": f"worker-{child.index}", "pid": child.proc.pid})
                self._forget_pipe(child)
        self._reap()  # a SIGCHLD that arrived while the handler was being set up has no byte

    def _forget_pipe(self, child: Child) -> None:
        if child.ready_fd >= 0:
            self.selector.unregister(child.ready_fd)
            os.close(child.ready_fd)
            child.ready_fd = -1
        if child.go_fd >= 0:
            os.close(child.go_fd)
            child.go_fd = -1

    def _reap(self) -> None:
        for index, child in list(self.children.items()):
            code = child.proc.poll()
            if code is None:
                continue
            self._forget_pipe(child)
            del self.children[index]
            if self.stopping:
                continue
            # a process that was ready had run: start it again soon; one that keeps dying early, less often
            delay = FIRST_RESTART_DELAY if child.ready else min(child.delay * 2, MAX_RESTART_DELAY)
            self.restarts[index] = (time.monotonic() + (FIRST_RESTART_DELAY if child.ready else child.delay),
                                    delay)
            log.warning("worker process exited; its shards and jobs move to the others until it is started again",
                        extra={"worker": f"worker-{index}", "pid": child.proc.pid, "exit_code": code,
                               "restart_in_s": round(self.restarts[index][0] - time.monotonic(), 1)})

    def _stop_all(self) -> None:
        """Stop process 0 last: its copy of the views is what the embedded broker is given back at the next
        start, so it folds what the others wrote before they stopped."""
        self.stopping = True
        deadline = time.monotonic() + STOP_TIMEOUT
        others = [c for i, c in sorted(self.children.items()) if i != 0]
        self._stop(others, deadline - STOP_TIMEOUT * FIRST_SHARE)
        self._stop([c for i, c in self.children.items() if i == 0], deadline)
        for child in list(self.children.values()):
            self._forget_pipe(child)
        self.children.clear()

    def _stop(self, children: list[Child], deadline: float) -> None:
        running = [c for c in children if c.proc.poll() is None]
        for child in running:
            child.proc.send_signal(signal.SIGTERM)
        for child in running:
            try:
                child.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker process did not stop in time; killed",
                            extra={"worker": f"worker-{child.index}", "pid": child.proc.pid})
                child.proc.kill()
                child.proc.wait()
