"""The parse processes of a worker, shared by its load jobs: blocks in, parsed blocks out, in order per process.

Each process is ``python -m pipeline.parsing.child`` with pipes: it starts
with few imports (not the worker's), needs no fork of a threaded process,
and ends by itself when the worker's end of its stdin closes. A block goes
to the process with the fewest blocks waiting; each answers its blocks in
the order it got them, so a reader task per process hands each answer to the
future waiting for it. An answer whose job was cancelled meanwhile is
dropped, which is what stops that job's parse work: it is given no more.

A process that dies fails the blocks it held with :class:`ParseProcessDied`
(their jobs end in ERROR and can be run again); the next block starts a new
process. With no processes configured (``PIPELINE_PARSE_PROCESSES=0``),
blocks are parsed in a thread of the worker by the csv module path
(:func:`~pipeline.parsing.block.csv_block`: the same rows, without pyarrow
in the worker's memory).
"""
from __future__ import annotations

import asyncio
import logging
import pickle
import signal
import sys
from collections import deque

from .block import FAILED, BlockRequest, ParsedBlock, csv_block
from .child import HEADER, frame
from .exceptions import ParseFailed, ParseProcessDied

log = logging.getLogger(__name__)

class _Process:
    """One parse process and the futures of the blocks it was sent, oldest first."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.waiting: deque[asyncio.Future[ParsedBlock]] = deque()
        self.alive = True
        self.stopping = False
        self.reader = asyncio.create_task(self._read(), name=f"parse-process-{process.pid}")

    @classmethod
    async def start(cls) -> "_Process":
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pipeline.parsing.child", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE)
        log.info("parse process started", extra={"pid": process.pid})
        return cls(process)

    async def send(self, request: BlockRequest) -> asyncio.Future[ParsedBlock]:
        stdin = self.process.stdin
        assert stdin is not None
        answer: asyncio.Future[ParsedBlock] = asyncio.get_running_loop().create_future()
        self.waiting.append(answer)  # with the write, in one step: the answers come in this order
        stdin.write(frame(request))
        try:
            await stdin.drain()
        except (ConnectionError, BrokenPipeError):
            pass  # the reader tells what became of the process
        return answer

    async def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while True:
                head = await stdout.readexactly(HEADER)
                answer = pickle.loads(await stdout.readexactly(int.from_bytes(head, "little")))
                waiting = self.waiting.popleft()
                if not waiting.done():  # its job was cancelled: nobody waits for the answer
                    waiting.set_result(answer)
        except asyncio.IncompleteReadError:
            pass
        self.alive = False
        code = await self.process.wait()
        how = f"was killed by signal {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        if self.waiting and not self.stopping:
            log.error("parse process died", extra={"pid": self.process.pid, "code": code})
        while self.waiting:
            waiting = self.waiting.popleft()
            if waiting.done():
                continue
            if self.stopping:  # the worker stops: its jobs resume elsewhere, and a block sent by one whose
                waiting.cancel()  # cancel came mid-send has nobody to take a failure (it was logged unretrieved)
            else:
                waiting.set_exception(ParseProcessDied(
                    f"the parse process (pid {self.process.pid}) {how} while it parsed this load's rows; "
                    "the load stopped there and can be run again"))

    async def stop(self) -> None:
        """Ends the process at once: it holds nothing (the answers of a stopping worker's jobs are dropped),
        and a worker has seconds to stop."""
        self.stopping = True
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        await self.reader


class ParsePool:
    """``processes`` parse processes, started when the first block comes."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._running: list[_Process] = []
        self._starting = asyncio.Lock()

    @property
    def in_flight(self) -> int:
        """Blocks a load keeps sent ahead of the one it waits for: enough to keep every process busy."""
        return 2 * max(self.processes, 1) + 1

    def pids(self) -> list[int]:
        return [running.process.pid for running in self._running if running.alive]

    def submit(self, request: BlockRequest) -> asyncio.Future[ParsedBlock]:
        """The block parsed, in a future (cancel it and the answer is dropped)."""
        if not self.processes:  # the csv module's way: pyarrow would add some 170 MB to the worker (401 MB at 1M)
            return asyncio.get_running_loop().run_in_executor(None, csv_block, request)
        return asyncio.ensure_future(self._parse(request))

    async def _parse(self, request: BlockRequest) -> ParsedBlock:
        process = await self._least_busy()
        answer = await (await process.send(request))
        if answer.kind == FAILED:
            raise ParseFailed(f"parsing failed: {answer.message}")
        return answer

    async def _least_busy(self) -> _Process:
        async with self._starting:
            self._running = [running for running in self._running if running.alive]
            if len(self._running) < self.processes:
                self._running.append(await _Process.start())
            return min(self._running, key=lambda running: len(running.waiting))

    async def close(self) -> None:
        running, self._running = self._running, []
        await asyncio.gather(*(process.stop() for process in running))

    def __repr__(self) -> str:
        return f"ParsePool(processes={self.processes}, pids={self.pids()})"
