"""A CSV source cut into blocks for parse processes (:mod:`pipeline.parsing`), on the load job's side.

The job's process only reads: it cuts the bytes into blocks where a line ends
with the quotes before it balanced (:func:`pipeline.sources.chunks.balanced_end`),
counts their lines, and hands each out as a :class:`Block`; a parse process
reads its records. Where a block ends depends on the file's bytes (see
:meth:`BlockReader.next_block`), not on where reading started, though a load
checkpoints at a number of rows, wherever the blocks end.

A block the parse process cannot read exactly as the line reader would
(:func:`pipeline.sources.chunks.block_records` says None) and everything after
it are read in batches, as :func:`pipeline.sources.csv.read_batches` reads
(:meth:`BlockReader.rows_from`): that is where an odd file gets its exact
error message.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import BinaryIO, Iterator

from .chunks import CHUNK, balanced_end, line_count
from .csv import batches_from, open_at, read_header
from .rows import Batch, BatchLimit, Ragged, ResumePoint


@dataclass(frozen=True)
class Block:
    """Bytes of a CSV that start and end where a record does (or at the end of the file)."""

    data: bytes
    offset: int  # of its first byte
    line: int  # physical lines before it
    lines: int  # its own
    header: tuple[str, ...]
    delimiter: str
    #: the encoding decided before it (None: ASCII so far)
    encoding: str | None


class BlockReader:
    """Cuts a CSV stream into :class:`Block` s, from its start or from a point a previous reader reported.

    Blocking, so used from a thread. :meth:`done` is told, in order, what each
    block handed out turned out to be; the reader keeps the bytes of those not
    yet done, for :meth:`rows_from`.
    """

    def __init__(self, stream: BinaryIO, resume: ResumePoint | None, encoding: str | None, max_record_bytes: int,
                 limit: BatchLimit) -> None:
        self._stream = stream
        self._encoding = encoding
        self._max = max_record_bytes
        self._limit = limit
        self._size = min(CHUNK, max_record_bytes)
        #: where the records after the blocks done so far start, and what was known there (None: the header is
        #: still to be read)
        self.point = resume
        self._opened = False
        self._data = b""  # read, not yet handed out
        self._eof = False
        self._next = (resume.offset, resume.line) if resume else (0, 0)
        self._encoding_known = resume.encoding if resume else None
        self._handed: deque[Block] = deque()

    def _open(self) -> bool:
        self._opened = True
        if self.point is not None:
            open_at(self._stream, self.point, self._max)
            return True
        start = read_header(self._stream, self._max, self._encoding)
        if start is None:
            return False
        self.point, self._data = start
        self._next = (self.point.offset, self.point.line)
        self._encoding_known = self.point.encoding
        return True

    def next_block(self) -> Block | None:
        """The next block; None at the end of the stream.

        It ends at the last balanced line end before the next multiple of the
        block size in the FILE (not after this block's start), so a reader
        that starts at any record's start cuts the same blocks from its first
        cut on. What was read is cut before more is asked for (a download may
        be slow to send the rest): a short read makes a short block, and the
        block after it ends where it would have.
        """
        if not self._opened and not self._open():
            return None
        offset, line = self._next
        target = (offset // self._size + 1) * self._size
        while True:
            want = target - offset
            cut = balanced_end(self._data, want)
            if cut:
                break
            if len(self._data) >= want:  # no balanced line end before the target: a record longer than a block
                if want > self._max:  # over the limit: the line reader says so
                    cut = want
                    break
                target += self._size
            elif self._eof:
                if not self._data:
                    return None
                cut = len(self._data)  # the last line, with no line end (or an unterminated quote)
                break
            else:  # up to the target: a stream that sends what it is asked for is cut there
                more = self._stream.read(want - len(self._data))
                self._data += more
                self._eof = not more
        data, self._data = self._data[:cut], self._data[cut:]
        assert self.point is not None
        block = Block(data, offset, line, line_count(data), self.point.header, self.point.delimiter,
                      self._encoding_known)
        self._next = (offset + len(data), line + block.lines)
        self._handed.append(block)
        return block

    def advance(self, offset: int, line: int, ragged_lines: list[int], encoding: str | None) -> ResumePoint:
        """The records of the oldest block not yet finished were loaded up to ``offset`` (``line`` lines
        read): ``ragged_lines``, the lines of those with extra cells since the last point, and ``encoding``
        decided by then. Where the reading stands now."""
        assert self.point is not None
        counted = Ragged.at(self.point)
        counted.merge(len(ragged_lines), tuple(ragged_lines))
        if encoding is not None and self._encoding_known is None:
            self._encoding_known = encoding
        self.point = replace(self.point, offset=offset, line=line, encoding=self.point.encoding or encoding,
                             ragged=counted.count, ragged_lines=tuple(counted.lines))
        return self.point

    def finished(self, block: Block) -> None:
        """``block`` (the oldest handed out) is loaded."""
        assert self._handed and self._handed[0] is block
        self._handed.popleft()

    def rows_from(self, block: Block) -> Iterator[Batch]:
        """The batches from the start of ``block`` (the oldest not yet done) to the end of the stream, read as
        :func:`pipeline.sources.csv.read_batches` reads; no block is handed out any more."""
        assert self.point is not None and self._handed and self._handed[0] is block
        rest = b"".join(handed.data for handed in self._handed) + self._data
        self._handed.clear()
        self._data = b""
        return batches_from(self._stream, rest, self.point, self._limit, self._max, self._encoding)
