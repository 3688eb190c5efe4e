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
import os
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Iterator

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
    """A scan's rows spilled to one file per shard as they arrive, and read back merged in key order, in another
    thread, while they still arrive.

    Memory stays flat whatever the size of the result: the rows wait on disk,
    and the reader holds one block per shard. A shard's rows are read as soon as
    they are on disk, so an export writes its file while the shards still scan;
    the reader waits for a shard whose next rows have not come yet (the merge
    needs every shard's next key), until that shard is done.

    A shard's stream can start again from its beginning (its partition moved to
    another worker mid-scan, :func:`collect`): :meth:`restart` empties its file,
    and the reader, which may have read part of it already, carries on from where
    it was once the file is that long again. That is sound because a scan is
    deterministic: it sees the shard as the log had it at the scan's offset, so
    the stream sent again holds the same rows in the same messages.

    :meth:`close` (or :meth:`fail`) stops a reader at its next wait or row.
    """

    #: bytes read from a shard's file at a time
    BLOCK = 256 * 1024

    def __init__(self, directory: Path, shards: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.paths = [directory / f"shard-{i:04d}.spill" for i in range(shards)]
        self._files = [open(p, "wb", buffering=0) for p in self.paths]
        self._sizes = [0] * shards
        self._done = [False] * shards
        self._error: str | None = None
        self._changed = threading.Condition()

    # ---- the writing side (the event loop: :func:`collect`) -------------------------
    def restart(self, shard: int) -> None:
        with self._changed:
            self._files[shard].seek(0)
            self._files[shard].truncate()
            self._sizes[shard] = 0

    def add(self, shard: int, rows: bytes) -> None:
        """``rows``: whole lines of key, tab, row (:func:`row_line`)."""
        self._files[shard].write(rows)
        with self._changed:
            self._sizes[shard] += len(rows)
            self._changed.notify_all()

    def done(self, shard: int) -> None:
        with self._changed:
            self._done[shard] = True
            self._changed.notify_all()

    def complete(self) -> None:
        """Every shard is done (a scan answered without shards, from a view)."""
        for shard in range(len(self._done)):
            self.done(shard)

    def fail(self, message: str) -> None:
        with self._changed:
            self._error = message
            self._changed.notify_all()

    # ---- the reading side (a thread) --------------------------------------------
    def _wait(self, shard: int, position: int) -> int:
        """The size of the shard's file once it holds more than ``position`` bytes; 0 once the shard is done
        and it never will."""
        with self._changed:
            while True:
                if self._error is not None:
                    raise ScanError(self._error)
                if self._sizes[shard] > position:
                    return self._sizes[shard]
                if self._done[shard]:
                    return 0
                self._changed.wait()

    def _lines(self, shard: int, reader: BinaryIO) -> Iterator[bytes]:
        """One shard's lines (without their newline) as they reach its file."""
        position, tail = 0, b""
        while size := self._wait(shard, position):
            block = os.pread(reader.fileno(), min(self.BLOCK, size - position), position)
            position += len(block)
            lines = (tail + block).split(b"\n")
            tail = lines.pop()
            yield from lines

    def lines(self) -> Iterator[bytes]:
        """Every row as JSON bytes, in key order: a line is its key in hex, a tab and the row, so lines compare
        as their keys do (a tab sorts before every hex digit, so a key sorts before the keys it prefixes) and
        the merge needs no key function."""
        readers = [open(p, "rb") for p in self.paths]
        try:
            for line in heapq.merge(*(self._lines(i, r) for i, r in enumerate(readers))):
                if self._error is not None:
                    raise ScanError(self._error)
                yield line[line.index(b"\t") + 1:]
        finally:
            for reader in readers:
                reader.close()

    def rows(self) -> Iterator[dict[str, Any]]:
        return map(codec.loads, self.lines())

    def close(self) -> None:
        self.fail("the scan's rows were discarded (the job was stopped)")
        for out in self._files:
            out.close()
        for path in self.paths:
            path.unlink(missing_ok=True)


async def collect(queue: asyncio.Queue[ShardReply], shards: int, timeout: float, sink: Spill | None) -> int:
    """Wait for every shard's DONE, handing their rows to ``sink``; the total row count.

    Every reply waiting is taken at each turn of the event loop, not one: the
    reader (:class:`pipeline.kafka.replies.Replies`) queues a whole fetch in one
    turn, so a requester taking one a turn fell behind whenever the loop was busy
    (its worker scanning its own shards for the same export), and the replies
    piled up in its memory (a 3M-row export grew the requesting worker by 60-80 MB).
    """
    done: dict[int, int] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    expected: dict[int, int] = {}
    while len(done) < shards:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise ScanError(f"the scan timed out waiting for shards {sorted(set(range(shards)) - set(done))}")
        results = [await asyncio.wait_for(queue.get(), remaining)]
        while not queue.empty():
            results.append(queue.get_nowait())
        for result in results:
            _take(result, done, expected, sink)
    return sum(done.values())


def _take(result: ShardReply, done: dict[int, int], expected: dict[int, int], sink: Spill | None) -> None:
    """One reply of a scan: rows to ``sink`` in each shard's sequence, a shard's DONE into ``done``."""
    if result.kind == "ERROR":
        raise ScanError(result.message or "a shard failed")
    shard, seq = result.shard, result.seq
    # After a hand-over a shard's scan can run twice (its old owner had not finished, or had not committed
    # past it); both streams carry the same rows in the same messages, so a stream is taken in sequence
    # only, starting again from its beginning when a message 0 comes, and a shard done is done: the owner
    # that streamed it may skip the scan if the shard comes back to it, so nothing would end a restart.
    if shard in done:
        return
    if seq == 0:
        expected[shard] = 0
        if sink is not None:
            sink.restart(shard)
    if seq != expected.get(shard):
        return
    expected[shard] = seq + 1
    if result.kind == "DONE":
        done[shard] = result.count
        if sink is not None:
            sink.done(shard)
    elif sink is not None:
        sink.add(shard, result.rows)


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
            count = self.views.scan(spec, sink)
            if sink is not None:
                sink.complete()
            return count
        scan_id = str(uuid.uuid4())
        queue = self.replies.open(scan_id)
        try:
            await self.bus.broadcast(ShardCommand("SCAN", scan_id, spec["database"], spec["table"],
                                                  payload=codec.dumps(spec),
                                                  reply_partition=self.replies.partition), self.shards)
            return await collect(queue, self.shards, timeout, sink)
        finally:
            self.replies.close(scan_id)
