"""A synchronous search's answer, streamed: its rows are read and encoded a chunk at a time, never all held.

A ``SELECT *`` of a large table used to become one list of every row, then
one JSON text of it, in the worker's memory. The rows come from blocking work
(merging the scans' spills, SQL's final stage), so each chunk is made in a
thread and handed to the HTTP response as JSON array text.
"""
from __future__ import annotations

import asyncio
from itertools import islice
from typing import Any, AsyncIterator, Callable, Iterator

from .. import codec

#: rows encoded per piece of the answer
CHUNK_ROWS = 1000


class RowStream:
    """The rows of one answer; ``release`` frees what they are read from (the scans' spills)."""

    def __init__(self, rows: Iterator[dict[str, Any]], release: Callable[[], None]) -> None:
        self._rows = rows
        self._release: Callable[[], None] | None = release
        self._first: bytes | None = None

    async def start(self) -> None:
        """Make the first piece now, so an error of the search's final stage (DuckDB's) is still answered as an
        error, before anything is sent; on an error the rows are released."""
        try:
            self._first = await asyncio.to_thread(self._chunk)
        except BaseException:
            self.close()
            raise

    async def pieces(self) -> AsyncIterator[bytes]:
        """The answer as JSON text: ``[`` and the first rows, more rows, ``]`` (after :meth:`start`)."""
        try:
            yield b"[" + (self._first or b"")
            while (piece := await asyncio.to_thread(self._chunk)) is not None:
                yield b"," + piece
            yield b"]"
        finally:
            self.close()

    async def collect(self) -> list[dict[str, Any]]:
        """Every row, for an answer that is kept whole (a search run from the ``operations`` topic)."""
        return codec.loads(b"".join([piece async for piece in self.pieces()]))

    def _chunk(self) -> bytes | None:
        rows = list(islice(self._rows, CHUNK_ROWS))
        return b",".join(map(codec.dumps, rows)) if rows else None

    def close(self) -> None:
        release, self._release = self._release, None
        if release is None:
            return
        close = getattr(self._rows, "close", None)
        if close is not None:
            try:
                close()  # a generator: its own cleanup (SQL's final stage closes its DuckDB)
            except ValueError:
                pass  # still running in a thread whose wait was cancelled: it ends with its chunk
        release()
