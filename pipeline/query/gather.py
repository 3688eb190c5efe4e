"""The requester side of a scan: a SCAN command to every shard, their rows gathered back in key order.

A scan travels ``shard-log`` like every write, so it sees exactly the writes
that were in the log before it. Each shard streams its matching rows, in key
order, to ``export-results`` under the scan's id (:mod:`pipeline.shard.scan`);
the requester merges the shards' streams by key, so the result is in
primary-key order as Harper's is.
"""
from __future__ import annotations

import asyncio
import heapq
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .. import codec
from ..kafka.bus import Bus
from ..kafka.replies import Replies
from ..records import ShardCommand, ShardReply
from .exceptions import ScanError

if TYPE_CHECKING:
    from .views import TableViews


def row_line(encoded_key: bytes, raw: bytes) -> bytes:
    """One row as a scan streams it: ``<hex key>\\t<row JSON>\\n`` (hex keeps the keys' byte order)."""
    return b"%s\t%s\n" % (encoded_key.hex().encode(), raw)


class Spill:
    """A scan's rows spilled to one file per shard as they arrive, merged in key order when read.

    Memory stays flat whatever the size of the result: a shard's rows wait on
    disk until every shard is done, then one line per shard is in memory at a time.
    :meth:`close` also stops a reader in another thread (a cancelled export's
    writer) at its next row.
    """

    def __init__(self, directory: Path, shards: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.paths = [directory / f"shard-{i:04d}.spill" for i in range(shards)]
        self._files = [open(p, "wb") for p in self.paths]
        self._closed = False

    def restart(self, shard: int) -> None:
        self._files[shard].seek(0)
        self._files[shard].truncate()

    def add(self, shard: int, rows: bytes) -> None:
        self._files[shard].write(rows)  # already lines of key, tab, row

    def lines(self) -> Iterator[bytes]:
        """Every row as JSON bytes (as the shards sent it), in key order."""
        for out in self._files:
            out.close()
        readers = [open(p, "rb") for p in self.paths]
        try:
            for line in heapq.merge(*readers, key=lambda line: line[: line.index(b"\t")]):
                if self._closed:
                    raise ScanError("the scan's rows were discarded (the job was stopped)")
                yield line[line.index(b"\t") + 1:-1]
        finally:
            for reader in readers:
                reader.close()

    def rows(self) -> Iterator[dict[str, Any]]:
        return map(codec.loads, self.lines())

    def close(self) -> None:
        self._closed = True
        for out in self._files:
            out.close()
        for path in self.paths:
            path.unlink(missing_ok=True)


async def collect(queue: asyncio.Queue[ShardReply], shards: int, timeout: float, sink: Spill | None) -> int:
    """Wait for every shard's DONE, handing their rows to ``sink``; the total row count."""
    done: dict[int, int] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    expected: dict[int, int] = {}
    while len(done) < shards:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise ScanError(f"the scan timed out waiting for shards {sorted(set(range(shards)) - set(done))}")
        result = await asyncio.wait_for(queue.get(), remaining)
        if result.kind == "ERROR":
            raise ScanError(result.message or "a shard failed")
        shard, seq = result.shard, result.seq
        # After a hand-over a shard's scan can run twice (its old owner had not finished, or had not committed
        # past it); both streams carry the same rows in the same messages, so a stream is taken in sequence
        # only, starting again from its beginning when a message 0 comes, and a shard done is done: the owner
        # that streamed it may skip the scan if the shard comes back to it, so nothing would end a restart.
        if shard in done:
            continue
        if seq == 0:
            expected[shard] = 0
            if sink is not None:
                sink.restart(shard)
        if seq != expected.get(shard):
            continue
        expected[shard] = seq + 1
        if result.kind == "DONE":
            done[shard] = result.count
        elif sink is not None:
            sink.add(shard, result.rows)
    return sum(done.values())


class Scanner:
    """A requester's scans: a SCAN command to every shard, ordered after every write before it; a table a
    view serves (the system database) is scanned here instead, into the same sinks."""

    def __init__(self, bus: Bus, replies: Replies, shards: int, views: TableViews | None = None) -> None:
        self.bus = bus
        self.replies = replies
        self.shards = shards
        self.views = views

    async def scan(self, spec: dict, sink: Spill | None, timeout: float = 600) -> int:
        """Run one scan; its rows go to ``sink`` (None: only count them). Returns the row count."""
        if self.views is not None and self.views.serves(spec):
            return self.views.scan(spec, sink)
        scan_id = str(uuid.uuid4())
        queue = self.replies.open(scan_id)
        try:
            await self.bus.broadcast(ShardCommand("SCAN", scan_id, spec["database"], spec["table"],
                                                  payload=codec.dumps(spec)), self.shards)
            return await collect(queue, self.shards, timeout, sink)
        finally:
            self.replies.close(scan_id)
