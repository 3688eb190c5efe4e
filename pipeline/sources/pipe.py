"""A bounded pipe from an asyncio producer (a download, a job's data chunks) to a blocking reader (the CSV
reader's thread)."""
from __future__ import annotations

import asyncio
import contextlib
import io
import queue
from typing import Awaitable, BinaryIO, Callable

_END = object()


class Pipe(io.RawIOBase):
    """Bytes fed by the event loop, read by a thread; at most ``depth`` chunks wait in between.

    An exception given to :meth:`fail` is raised in the reader, so the job
    reports the producer's own error.
    """

    def __init__(self, depth: int = 16) -> None:
        self._queue: queue.Queue = queue.Queue(depth)
        self._buffer = memoryview(b"")
        self._ended = False
        self.closed_by_reader = False

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:  # type: ignore[override]
        while not self._buffer:
            if self._ended:
                return 0
            item = self._queue.get()
            if item is _END:
                self._ended = True
                return 0
            if isinstance(item, BaseException):
                self._ended = True
                raise item
            self._buffer = memoryview(item)
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size

    def close(self) -> None:
        self.closed_by_reader = True
        super().close()

    async def _put(self, item: object) -> None:
        while not self.closed_by_reader:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                await asyncio.sleep(0.01)  # the reader is behind: wait for it (backpressure)

    async def feed(self, chunk: bytes) -> None:
        await self._put(chunk)

    async def end(self) -> None:
        await self._put(_END)

    async def fail(self, error: BaseException) -> None:
        await self._put(error)


async def piped(stack: contextlib.AsyncExitStack, feed: Callable[[Pipe], Awaitable[None]]) -> BinaryIO:
    """A stream fed by ``feed(pipe)``, a task on the event loop, for the reader's thread; the task is stopped
    when ``stack`` closes, after the stream. ``feed`` hands any failure to the pipe (:meth:`Pipe.fail`)."""
    pipe = Pipe()
    task = asyncio.create_task(feed(pipe))

    async def stop() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    stack.push_async_callback(stop)  # after the reader below is closed
    return stack.enter_context(io.BufferedReader(pipe, 1024 * 1024))
