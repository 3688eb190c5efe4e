"""The pipe between a download (on the event loop) and the CSV reader's thread: the reader never waits for a
producer that is gone."""
from __future__ import annotations

import asyncio
import io

import pytest

from pipeline.sources.pipe import Pipe, SourceStopped


async def read_all(pipe: Pipe) -> bytes:
    """What the reader's thread reads, as the CSV reader reads it (through a buffer)."""
    def read() -> bytes:
        with io.BufferedReader(pipe, 4096) as stream:
            return stream.read()
    return await asyncio.wait_for(asyncio.to_thread(read), 10)


def run(producer):
    async def main() -> bytes:
        pipe = Pipe(depth=2)
        task = asyncio.create_task(producer(pipe))
        pipe.watch(task)
        try:
            return await read_all(pipe)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return asyncio.run(main())


def test_the_reader_gets_everything_the_producer_fed_before_it_ended():
    async def producer(pipe: Pipe) -> None:
        for i in range(10):
            await pipe.feed(b"%d\n" % i)
        await pipe.end()
    assert run(producer) == b"".join(b"%d\n" % i for i in range(10))


def test_the_producers_own_error_reaches_the_reader():
    async def producer(pipe: Pipe) -> None:
        await pipe.feed(b"id\n")
        await pipe.fail(ValueError("the server went away"))
    with pytest.raises(ValueError, match="the server went away"):
        run(producer)


@pytest.mark.parametrize("how", ["raises", "returns", "is cancelled"])
def test_a_producer_that_stops_without_ending_the_pipe_does_not_leave_the_reader_waiting(how):
    async def producer(pipe: Pipe) -> None:
        await pipe.feed(b"id\n1\n")
        if how == "raises":
            raise ValueError("Port out of range 0-65535")  # what urlparse raised inside the download task
        if how == "is cancelled":
            asyncio.current_task().cancel()
            await asyncio.sleep(1)
    expected = (ValueError, "Port out of range") if how == "raises" else (SourceStopped, "before the end of its bytes")
    with pytest.raises(expected[0], match=expected[1]):
        run(producer)
