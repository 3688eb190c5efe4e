"""The parse processes: real child processes, blocks in and parsed blocks out, a death noticed, a cancel dropped."""
from __future__ import annotations

import asyncio
import os
import signal

import pytest

from harness import unread_stdin
from pipeline.parsing.block import ROWS, BlockRequest
from pipeline.parsing.exceptions import ParseProcessDied
from pipeline.parsing.pool import ParsePool
from pipeline.shard.routing import table_crc


def _request(first: int, rows: int = 200) -> BlockRequest:
    data = "".join(f"{i},name {i}\n" for i in range(first, first + rows)).encode()
    return BlockRequest(data, first, ("id", "name"), ",", None, 1 << 20, "id", table_crc("dev", "t"), 4)


async def _until(check, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_blocks_are_answered_in_order_and_a_cancelled_one_is_dropped():
    async def scenario():
        pool = ParsePool(1)
        try:
            first = await pool.submit(_request(0))
            assert first.kind == ROWS and first.count == 200 and first.names == ("id", "name")
            [pid] = pool.pids()
            os.kill(pid, signal.SIGSTOP)  # the blocks wait in its stdin, answered in the order sent
            futures = [pool.submit(_request(1000 * n)) for n in range(1, 4)]
            await _until(lambda: unread_stdin(pid) > 0)
            futures[0].cancel()  # its job was cancelled: its answer goes nowhere, the next get theirs
            os.kill(pid, signal.SIGCONT)
            second, third = await futures[1], await futures[2]
            assert second.count == third.count == 200
            assert (second.lines[-1], third.lines[-1]) == (200, 200)
            assert pool.pids() == [pid]
        finally:
            await pool.close()
        assert pool.pids() == []

    asyncio.run(scenario())


def test_a_parse_process_that_dies_fails_its_blocks_and_the_next_block_starts_another():
    async def scenario():
        pool = ParsePool(1)
        try:
            await pool.submit(_request(0))
            [pid] = pool.pids()
            os.kill(pid, signal.SIGSTOP)
            held = pool.submit(_request(500))
            await _until(lambda: unread_stdin(pid) > 0)
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(ParseProcessDied, match=rf"the parse process \(pid {pid}\) was killed by signal "
                                                       "SIGKILL while it parsed this load's rows"):
                await asyncio.wait_for(held, 30)
            again = await asyncio.wait_for(pool.submit(_request(900)), 30)
            assert again.count == 200 and pool.pids() != [pid]
        finally:
            await pool.close()

    asyncio.run(scenario())


def test_without_parse_processes_a_block_is_parsed_in_a_thread():
    async def scenario():
        pool = ParsePool(0)
        parsed = await pool.submit(_request(0))
        assert parsed.kind == ROWS and parsed.count == 200 and pool.pids() == []
        await pool.close()

    asyncio.run(scenario())
