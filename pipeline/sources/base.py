"""A load's source as a partition, in the manner of bytewax's inputs: records in batches, from a position.

:meth:`SourcePartition.next_batch` reads the next batch of records; it
blocks, so a load calls it in a thread, off the event loop.
:meth:`SourcePartition.snapshot` is the position just after the last batch
returned, JSON-safe: a load's checkpoint stores it, and a load taken over by
another worker builds its source again with it (``resume``) to carry on
from there. Opening and closing may need the event loop (a download task, an
S3 request), so a partition is an async context manager.

A load reads a CSV source in blocks instead (:attr:`SourcePartition.by_blocks`,
:meth:`SourcePartition.next_block`), which parse processes turn into rows,
from any position: the same records come either way.

Each kind of source says how to open its bytes; the records are read from
them as CSV (Harper's dialect, :mod:`pipeline.sources.csv`) or, for an S3
object named ``.json``, as a JSON array (:mod:`pipeline.sources.json`).
"""
from __future__ import annotations

import abc
import contextlib
from typing import Any, BinaryIO, Iterator

from .blocks import Block, BlockReader
from .csv import MAX_RECORD_BYTES, read_batches
from .json import read_json_batches
from .rows import Batch, BatchLimit, ResumePoint

Records = list[dict[str, Any]]
Position = dict[str, Any]


class SourcePartition(abc.ABC):
    #: the bytes are a JSON array of records, not CSV
    json_records = False
    #: the text encoding a CSV source is read in, when the operation names one (its ``encoding``, validated);
    #: None: UTF-8, or detected from the bytes
    encoding: str | None = None
    #: read a CSV in blocks (:meth:`next_block`) until a block needs the line reader
    by_blocks = False

    def __init__(self, batch_size: int, resume: Position | None = None,
                 max_record_bytes: int = MAX_RECORD_BYTES) -> None:
        """``resume``: a position :meth:`snapshot` returned, to carry on from; ``max_record_bytes``: the largest
        CSV record read (PIPELINE_MAX_RECORD_BYTES)."""
        self.batch_size = batch_size
        self.limit = BatchLimit(batch_size)
        self.max_record_bytes = max_record_bytes
        self._position = resume
        self._stack = contextlib.AsyncExitStack()
        self._batches: Iterator[tuple[Records, Position]] | None = None
        #: set while the source is read in blocks
        self.blocks: BlockReader | None = None

    @abc.abstractmethod
    async def open_stream(self, stack: contextlib.AsyncExitStack) -> BinaryIO:
        """The source's bytes as a blocking stream, for the reader's thread; what must be closed goes on
        ``stack``. A stream that cannot seek must be able to ``peek`` (an ``io.BufferedReader``)."""

    async def __aenter__(self) -> "SourcePartition":
        await self._stack.__aenter__()
        try:
            stream = await self.open_stream(self._stack)
        except BaseException:
            await self._stack.aclose()
            raise
        if self.json_records:
            self._batches = _json_batches(stream, self.batch_size, self._position)
        elif self.by_blocks:
            self.blocks = BlockReader(stream, _resume_point(self._position), self.encoding, self.max_record_bytes,
                                      self.limit)
        else:
            self._batches = _positions(read_batches(stream, self.batch_size, resume=_resume_point(self._position),
                                                    max_record_bytes=self.max_record_bytes,
                                                    encoding=self.encoding))
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        return await self._stack.__aexit__(*exc)

    def next_batch(self, up_to: int | None = None) -> Records | None:
        """The next records (blocking); None once the source is read to its end. ``up_to``: a CSV's batch holds
        that many records at most."""
        assert self._batches is not None, "open the partition first (async with)"
        if up_to is not None:
            self.limit.up_to(up_to)
        item = next(self._batches, None)
        if item is None:
            return None
        records, self._position = item
        return records

    def next_block(self) -> Block | None:
        """The next block of a source read in blocks (blocking); None once it is read to its end."""
        assert self.blocks is not None, "a source read in blocks"
        return self.blocks.next_block()

    def block_done(self, block: Block, offset: int, line: int, ragged_lines: list[int], encoding: str | None,
                   finished: bool = True) -> None:
        """The records of ``block`` (the oldest handed out) were loaded up to ``offset`` (see
        :meth:`BlockReader.advance`); ``finished``: all of them."""
        assert self.blocks is not None, "a source read in blocks"
        self._position = _position(self.blocks.advance(offset, line, ragged_lines, encoding))
        if finished:
            self.blocks.finished(block)

    def read_batches_from(self, block: Block) -> None:
        """Read the rest of the source, from ``block`` (the oldest handed out) on, in batches
        (:meth:`next_batch`): a parse process could not read that block as the line reader would."""
        assert self.blocks is not None, "a source read in blocks"
        self._batches = _positions(self.blocks.rows_from(block))
        self.blocks = None

    def snapshot(self) -> Position | None:
        """Where the source is: just after the last batch returned (None: nothing read yet)."""
        return self._position


def _resume_point(position: Position | None) -> ResumePoint | None:
    return ResumePoint(position["offset"], position["line"], tuple(position["header"]), position["delimiter"],
                       position.get("encoding"), position.get("ragged", 0),
                       tuple(position.get("ragged_lines", ()))) if position else None


def _position(point: ResumePoint) -> Position:
    """A CSV's position: where it is, what the reader knew, and how it was read so far (``encoding``,
    ``ragged``: rows with extra cells, ``ragged_lines``: the first of their lines)."""
    return {"offset": point.offset, "line": point.line, "header": point.header, "delimiter": point.delimiter,
            "encoding": point.encoding, "ragged": point.ragged, "ragged_lines": list(point.ragged_lines)}


def _positions(batches: Iterator[Batch]) -> Iterator[tuple[Records, Position]]:
    for batch in batches:
        yield batch.records, _position(batch.resume)


def _json_batches(stream: BinaryIO, batch_size: int,
                  position: Position | None) -> Iterator[tuple[Records, Position]]:
    count = position["records"] if position else 0
    for records in read_json_batches(stream, batch_size, skip=count):
        count += len(records)
        yield records, {"records": count}
