"""A streaming CSV reader with Harper's (papaparse's) dialect, in batches of typed records.

The source is read in blocks and split into physical lines as bytes (only
``\\n``, ``\\r`` and ``\\r\\n`` end a line, as in papaparse), each line decoded
strictly in the source's text encoding (:mod:`pipeline.sources.encoding`:
UTF-8, detected, or the operation's ``encoding``; never by replacing a byte)
and fed to the C ``csv`` module, which joins the lines of a quoted field
itself. Because ``csv.reader`` never reads ahead, the byte offset after each
record is exact: a batch reports where the next one starts, which is what a
resumed job seeks to.

A row with more cells than the header is loaded as Harper loads it: the
extra cells, typed like the others, go in ``__parsed_extra``; the reader
counts such rows and remembers the first lines, for the job's result.
Where papaparse would silently produce garbage, the reader refuses with the
line number: an unterminated quote (papaparse swallows the rest of the
file), NUL bytes (a binary or UTF-16 file). A record (its lines, quoted line
breaks included) larger than ``max_record_bytes`` is refused as soon as it
gets there, so a 200 MB cell costs no more memory than the limit.

A file is read first by the block reader (:mod:`pipeline.sources.chunks`),
which hands over to this one what it cannot read exactly the same way.
"""
from __future__ import annotations

import csv
from typing import Any, BinaryIO, Iterator

from .chunks import chunk_batches
from .encoding import Decoder, nul_bytes
from .exceptions import CsvError
from .rows import Batch, BatchLimit, Ragged, ResumePoint, record

BLOCK = 1 << 20
DELIMITERS = (",", "\t", "|", ";", "\x1e", "\x1f")
#: rows looked at to guess the delimiter (papaparse looks at 10)
SAMPLE_ROWS = 10
#: the largest record read when the caller gives no limit
MAX_RECORD_BYTES = 8 * 1024 ** 2
#: cells in a batch at most: a wide file comes in batches of fewer rows, so a batch's memory does not grow with
#: the width (1,000 rows of 250 columns; 12 rows of 20,000)
CELLS_PER_BATCH = 250_000


class _Lines:
    """Decoded physical lines of a binary stream, counting lines and bytes as they are taken.

    The lines of one record (from :meth:`start_record`) may add up to ``limit`` bytes at most.
    """

    def __init__(self, stream: BinaryIO, offset: int, line: int, limit: int, decoder: Decoder) -> None:
        self.stream = stream
        self.decoder = decoder
        self._codec = decoder.encoding or "ascii"  # what reads a line before the decoder is asked
        self.offset = offset  # bytes consumed by the lines handed out so far
        self.line = line  # lines handed out so far
        self.limit = limit
        self.record_start = offset  # where the record being read starts
        self.record_line = line + 1
        self._pending: list[bytes] = []
        self._tail = b""
        self._eof = False

    def take_rest(self) -> bytes:
        """The bytes read from the stream but not yet handed out as lines (they are handed out no more)."""
        rest = b"".join(reversed(self._pending)) + self._tail
        self._pending, self._tail = [], b""
        return rest

    def push_back(self, data: bytes) -> None:
        """Hand out ``data`` (the bytes at :attr:`offset`) before what is read from the stream next."""
        lines = data.splitlines(keepends=True)
        if lines and not lines[-1].endswith(b"\n"):
            self._tail = lines.pop()
        lines.reverse()
        self._pending = lines

    def start_record(self) -> None:
        self.record_start, self.record_line = self.offset, self.line + 1

    def _too_large(self) -> CsvError:
        return CsvError(f"line {self.record_line}: the record is larger than the limit of {self.limit} bytes "
                        "(PIPELINE_MAX_RECORD_BYTES)", self.record_line)

    def __iter__(self) -> "_Lines":
        return self

    def _fill(self) -> bool:
        while not self._pending:
            if self._eof:
                return False
            lines = self._read_block()
            if not lines and self.offset + len(self._tail) - self.record_start > self.limit:
                raise self._too_large()
            self._pending = lines
            self._pending.reverse()
        return True

    def _read_block(self) -> list[bytes]:
        """The whole lines of the next block (the unfinished last one waits in ``_tail``)."""
        block = self.stream.read(BLOCK)
        if not block:
            self._eof = True
            lines, self._tail = ([self._tail] if self._tail else []), b""
            return lines
        lines = (self._tail + block).splitlines(keepends=True)
        # an unfinished last line waits for the next block; so does one ending in "\r",
        # which may be the first half of "\r\n"
        self._tail = b"" if lines[-1].endswith(b"\n") else lines.pop()
        return lines

    def _ahead(self) -> bytes:
        """Bytes after the line being decoded (up to a block more is read), for detecting an encoding."""
        if not self._eof and sum(map(len, self._pending)) + len(self._tail) < BLOCK:
            more = self._read_block()
            more.reverse()
            self._pending[:0] = more  # _pending is a stack: later lines go to its bottom
        return b"".join(reversed(self._pending)) + self._tail

    def __next__(self) -> str:
        if not self._fill():
            raise StopIteration
        raw = self._pending.pop()
        number = self.line + 1
        if self.offset + len(raw) - self.record_start > self.limit:
            raise self._too_large()
        if b"\x00" in raw:
            raise nul_bytes(raw, number, self.offset)
        try:
            text = raw.decode(self._codec)
        except UnicodeDecodeError:  # the first line that is not ASCII decides the encoding, or a bad line
            text = self.decoder.decode(raw, number, self.offset, self._ahead)
            self._codec = self.decoder.encoding or "ascii"
        self.offset += len(raw)
        self.line = number
        return text


def _unique(names: list[str]) -> tuple[str, ...]:
    """papaparse's renaming of duplicate header names: a, a_1, a_2."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            candidate = f"{name}_{seen[name]}"
            while candidate in seen:
                seen[name] += 1
                candidate = f"{name}_{seen[name]}"
            seen[candidate] = 0
            out.append(candidate)
        else:
            seen[name] = 0
            out.append(name)
    return tuple(out)


def _guess_delimiter(sample: list[str]) -> str:
    """papaparse's idea: the delimiter whose field counts are most consistent, with more than one field."""
    best, best_delta = ",", None
    for delimiter in DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(sample, delimiter=delimiter) if r][:SAMPLE_ROWS]
        except csv.Error:
            continue
        if not counts or sum(counts) / len(counts) <= 1.99:
            continue
        delta = sum(abs(a - b) for a, b in zip(counts, counts[1:]))
        if best_delta is None or delta < best_delta:
            best, best_delta = delimiter, delta
    return best


SAMPLE_BYTES = 64 * 1024


def _sample(stream: BinaryIO) -> list[str]:
    """The first lines of the stream, left unread, for guessing the delimiter."""
    if stream.seekable():
        start = stream.tell()
        head = stream.read(SAMPLE_BYTES)
        stream.seek(start)
    else:
        head = stream.peek(SAMPLE_BYTES)[:SAMPLE_BYTES]  # type: ignore[attr-defined]
    text = head.decode("utf-8", errors="replace")
    return text.splitlines(keepends=True)[: SAMPLE_ROWS * 4]


def read_batches(stream: BinaryIO, batch_size: int = 1000, *, resume: ResumePoint | None = None,
                 max_record_bytes: int = MAX_RECORD_BYTES, encoding: str | None = None) -> Iterator[Batch]:
    """Typed records of a CSV stream, ``batch_size`` at a time; nothing for an empty or header-only file.

    ``resume``: continue from a point a previous batch reported (the stream is
    sought there; one that cannot seek, a download, is read up to it and the
    bytes dropped). A stream that cannot seek must be able to ``peek`` (an
    ``io.BufferedReader``) so that the delimiter can be guessed.
    ``max_record_bytes``: the largest record (the header included).
    ``encoding``: the operation's (validated, Python's name); None: UTF-8 or detected.
    """
    if resume is None:
        start = read_header(stream, max_record_bytes, encoding)
        if start is None:
            return
        point, rest = start
    else:
        point, rest = resume, b""
        open_at(stream, resume, max_record_bytes)
    yield from batches_from(stream, rest, point, BatchLimit(batch_size), max_record_bytes, encoding)


def read_header(stream: BinaryIO, max_record_bytes: int, encoding: str | None) -> tuple[ResumePoint, bytes] | None:
    """Where the records of a CSV stream start (the header read, the delimiter guessed) and the bytes from
    there already read; None for an empty file."""
    csv.field_size_limit(max_record_bytes)  # the csv module's own bound on a field; the record's comes first
    delimiter = _guess_delimiter(_sample(stream))
    decoder = Decoder(encoding, given=encoding is not None)
    lines = _Lines(stream, 0, 0, max_record_bytes, decoder)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    header_row = _next_row(reader, lines)
    if header_row is None:
        return None
    if header_row and header_row[0].startswith("\ufeff"):
        header_row[0] = header_row[0][1:]
    return ResumePoint(lines.offset, lines.line, _unique(header_row), delimiter, decoder.encoding), \
        lines.take_rest()


def open_at(stream: BinaryIO, point: ResumePoint, max_record_bytes: int) -> None:
    """Position ``stream`` at ``point``, to read on from there."""
    csv.field_size_limit(max_record_bytes)
    _seek(stream, point.offset)


def batches_from(stream: BinaryIO, rest: bytes, point: ResumePoint, limit: BatchLimit, max_record_bytes: int,
                 encoding: str | None) -> Iterator[Batch]:
    """The batches of the stream from ``point`` (``rest``: its bytes from there already read), by the block
    reader and, for what it hands over, the line reader."""
    decoder = Decoder(point.encoding, given=encoding is not None)
    limit.cap(CELLS_PER_BATCH // max(len(point.header), 1))
    handed_over = yield from chunk_batches(stream, rest, point, decoder, limit, max_record_bytes)
    if handed_over is not None:
        point, rest = handed_over
        yield from _line_batches(stream, rest, point, decoder, limit, max_record_bytes)


def _line_batches(stream: BinaryIO, rest: bytes, point: ResumePoint, decoder: Decoder, limit: BatchLimit,
                  max_record_bytes: int) -> Iterator[Batch]:
    """The batches of the stream from ``point``, read line by line; ``rest``: the stream's bytes from there
    already read."""
    header, delimiter = point.header, point.delimiter
    lines = _Lines(stream, point.offset, point.line, max_record_bytes, decoder)
    lines.push_back(rest)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    ragged = Ragged.at(point)

    def resume_point() -> ResumePoint:
        return ResumePoint(lines.offset, lines.line, header, delimiter, decoder.encoding, ragged.count,
                           tuple(ragged.lines))

    records: list[dict[str, Any]] = []
    first_line = 0
    while True:
        start_line = lines.line + 1
        lines.start_record()
        row = _next_row(reader, lines)
        if row is None:
            break
        if not row:
            continue  # an empty line
        if not records:
            first_line = start_line
        records.append(record(header, row, start_line, ragged))
        if len(records) >= limit.rows:
            yield Batch(records, first_line, resume_point())
            records = []
    if records:
        yield Batch(records, first_line, resume_point())


def _seek(stream: BinaryIO, offset: int) -> None:
    if stream.seekable():
        stream.seek(offset)
        return
    left = offset
    while left:
        block = stream.read(min(left, BLOCK))
        if not block:
            raise CsvError(f"the source now ends at byte {offset - left}, before byte {offset} where the job "
                           "stopped: it has changed since the job started")
        left -= len(block)


def _next_row(reader, lines: _Lines) -> list[str] | None:
    start = lines.line + 1
    try:
        return next(reader)
    except StopIteration:
        return None
    except csv.Error as err:
        if "end of data" in str(err) or "EOF" in str(err):
            raise CsvError(f"line {start}: a quoted field is never closed (unterminated quote)", start) from None
        raise CsvError(f"line {start}: {err}", start) from None
