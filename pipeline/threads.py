"""The threads a worker runs blocking calls on (source reads, export writers, S3 calls): daemons.

asyncio's default executor is joined when the interpreter exits, so a worker
asked to stop waited for whatever a cancelled job's thread was still doing:
an S3 upload the network holds kept a SIGTERM'd worker alive for 40 seconds
and more (botocore's read timeout, times its retries). The job itself was
stopped at once; nothing waits for that thread's result any more. On daemon
threads, such a call no longer holds the process.
"""
from __future__ import annotations

import concurrent.futures
import queue
import threading
from typing import Any, Callable

_STOP = object()


class DaemonExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs each call on one of at most ``max_workers`` daemon threads, started as calls wait for one.

    A ThreadPoolExecutor only because asyncio takes nothing else as a loop's default executor: it
    replaces the pool's submit and shutdown, so the pool's own (joined) threads are never started.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__(max_workers)
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._daemons: list[threading.Thread] = []
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._shut = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot run a call after the executor was shut down")
            self._calls.put((future, fn, args, kwargs))
            if not self._idle.acquire(blocking=False) and len(self._daemons) < self._max_workers:
                thread = threading.Thread(target=self._work, name=f"pipeline-io-{len(self._daemons)}", daemon=True)
                self._daemons.append(thread)
                thread.start()
        return future

    def _work(self) -> None:
        while (call := self._calls.get()) is not _STOP:
            future, fn, args, kwargs = call
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as err:  # noqa: BLE001 - handed to whoever awaits the call
                    future.set_exception(err)
                else:
                    future.set_result(result)
            del call, future  # the result is not kept alive while the thread waits
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shut = True
            if cancel_futures:
                while True:
                    try:
                        call = self._calls.get_nowait()
                    except queue.Empty:
                        break
                    if call is not _STOP:
                        call[0].cancel()
            for _ in self._daemons:
                self._calls.put(_STOP)
        if wait:
            for thread in self._daemons:
                thread.join()
