"""A synchronous write's answer, gathered from the shards' replies (no broker needed)."""
from __future__ import annotations

import asyncio

from pipeline import codec
from pipeline.ops.writes import applied
from pipeline.records import ShardReply


def reply(shard: int, seq: int, written: list, skipped: list, kind: str = "APPLIED") -> ShardReply:
    return ShardReply("w", shard, kind, seq, codec.dumps([written, skipped]), len(written))


def gathered(replies: list[ShardReply], commands: list[int]) -> tuple[list, list]:
    async def run() -> tuple[list, list]:
        queue: asyncio.Queue[ShardReply] = asyncio.Queue()
        for r in replies:
            queue.put_nowait(r)
        return await asyncio.wait_for(applied(queue, commands), 5)
    return asyncio.run(run())


def test_every_command_is_counted_once_whatever_the_order_and_the_redeliveries():
    written, skipped = gathered([
        reply(1, 0, [3], []),
        reply(1, 0, [3], []),  # the command delivered to the shard again: its stored result, again
        reply(0, 0, [], [], kind="ROWS"),  # not a write's reply
        reply(0, 1, [2], [5]),
        reply(0, 0, [1], []),
    ], [2, 1])
    assert (sorted(written), skipped) == ([1, 2, 3], [5])


def test_a_write_waits_for_every_shard():
    async def run() -> tuple[bool, tuple[list, list]]:
        queue: asyncio.Queue[ShardReply] = asyncio.Queue()
        answer = asyncio.create_task(applied(queue, [1, 1]))
        queue.put_nowait(reply(0, 0, [1], []))
        while not queue.empty():  # let it take the first reply
            await asyncio.sleep(0)
        waiting = not answer.done()
        queue.put_nowait(reply(1, 0, [], [2]))
        return waiting, await asyncio.wait_for(answer, 5)
    waiting, answer = asyncio.run(run())
    assert waiting and answer == ([1], [2])


def test_an_empty_write_is_answered_at_once():
    assert gathered([], [0, 0]) == ([], [])
