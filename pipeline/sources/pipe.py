"""A bounded pipe from an asyncio producer (a download, a job's data chunks) to a blocking reader (the CSV
reader's thread)."""
from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import threading
from types import TracebackType
from typing import Awaitable, BinaryIO, Callable

from .exceptions import SourceAborted, SourceStopped

_END = object()

class Pipe(io.RawIOBase):
    """Bytes fed by the event loop, read by a thread; at most ``depth`` chunks wait in between.

    An exception given to :meth:`fail` is raised in the reader, so the job
    reports the producer's own error. The reader never waits for a producer
    that is gone: once the producer's task ends (:meth:`watch`) without having
    ended the pipe, whether it failed, was cancelled or simply returned, a
    reader of the drained pipe gets an error instead of waiting forever.
    :meth:`abort` ends a read in progress from the event loop at once, so a job
    stopped while its reader waits for bytes never leaves a thread (and the
    buffered stream's lock) behind.
    """

    def __init__(self, depth: int = 16) -> None:
        self._depth = depth
        self._items: collections.deque = collections.deque()
        self._ready = threading.Condition()
        self._gone: BaseException | None = None  # why the producer stopped, once it has
        self._aborted = False
        self._buffer = memoryview(b"")
        self._ended = False
        self.closed_by_reader = False

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:  # type: ignore[override]
        while not self._buffer:
            if self._ended:
                return 0
            with self._ready:
                while not self._items and self._gone is None and not self._aborted:
                    self._ready.wait()
                if self._aborted:
                    raise SourceAborted("the load was stopped")
                item = self._items.popleft() if self._items else self._gone
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

    def watch(self, producer: asyncio.Task) -> None:
        """Let the reader know when ``producer`` ends; what it queued before is still read first."""
        producer.add_done_callback(self._producer_ended)

    def _producer_ended(self, task: asyncio.Task) -> None:
        if task.cancelled():
            error: BaseException = SourceStopped("the source was stopped before the end of its bytes")
        else:
            error = task.exception() or SourceStopped("the source ended before the end of its bytes")
        with self._ready:
            self._gone = error
            self._ready.notify_all()

    def abort(self) -> None:
        """Make the reader's read in progress, and every later one, raise :class:`SourceAborted`. Never blocks."""
        with self._ready:
            self._aborted = True
            self._ready.notify_all()

    async def _put(self, item: object) -> None:
        while not self.closed_by_reader and not self._aborted:
            with self._ready:
                if len(self._items) < self._depth:
                    self._items.append(item)
                    self._ready.notify_all()
                    return
            await asyncio.sleep(0.01)  # the reader is behind: wait for it (backpressure)

    async def feed(self, chunk: bytes) -> None:
        await self._put(chunk)

    async def end(self) -> None:
        await self._put(_END)

    async def fail(self, error: BaseException) -> None:
        await self._put(error)


def abort_on_error(stack: contextlib.ExitStack | contextlib.AsyncExitStack, abort: Callable[[], None]) -> None:
    """Push onto ``stack`` a call of ``abort`` for when it closes with an error (the job was cancelled: its
    worker is stopping or its partition moved). Pushed after the buffered stream is entered, so it runs
    first: closing a buffered stream waits for the read in progress in the reader's thread, and would hold
    the event loop for as long as the source holds its bytes."""
    def on_exit(kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if kind is not None:
            abort()
    stack.push(on_exit)


async def piped(stack: contextlib.AsyncExitStack, feed: Callable[[Pipe], Awaitable[None]]) -> BinaryIO:
    """A stream fed by ``feed(pipe)``, a task on the event loop, for the reader's thread; the task is stopped
    when ``stack`` closes, after the stream. ``feed`` hands any failure to the pipe (:meth:`Pipe.fail`); a
    task that ends any other way without ending the pipe is reported to the reader too (:meth:`Pipe.watch`)."""
    pipe = Pipe()
    task = asyncio.create_task(feed(pipe))
    pipe.watch(task)

    async def stop() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    stack.push_async_callback(stop)  # after the reader below is closed
    stream = stack.enter_context(io.BufferedReader(pipe, 1024 * 1024))
    abort_on_error(stack, pipe.abort)
    return stream
