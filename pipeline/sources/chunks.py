"""The block reader: a CSV read a block at a time, each block decoded at once and parsed by one ``csv.reader``.

The line reader (:mod:`pipeline.sources.csv`) pays Python for every line and
every cell. So a file is read first by :func:`chunk_batches`: a block cut
after the last line end with its quotes balanced (:func:`balanced_end`) is
decoded at once (:func:`chunk_lines`), parsed by one ``csv.reader`` over its
lines (the line count after each record gives the exact byte offset of a
resume point), and typed a column at a time (:func:`pipeline.cells.type_column`).
Whatever it cannot read exactly the same way (NUL bytes, a line the encoding
cannot decode or an encoding not yet detected, a csv error, a record over the
limit) it hands over, from the last point it reported, to the line reader,
which reads the rest of the file and says what is wrong as it always did.

:func:`block_records` reads one whole block the same way, for a parse
process (:mod:`pipeline.parsing`): this module imports no more than the
typing, so that such a process starts with little.
"""
from __future__ import annotations

import array
import bisect
import csv
import re
from dataclasses import dataclass
from itertools import accumulate, islice
from typing import TYPE_CHECKING, Any, BinaryIO, Generator

from ..cells import CellError, type_column
from .rows import UTF8, Batch, BatchLimit, Ragged, ResumePoint, record

if TYPE_CHECKING:
    from .encoding import Decoder

#: bytes read at a time by the chunk reader: its lines, rows and records take some twenty times their size
CHUNK = 1 << 18
#: ASCII characters that end a line for ``str.splitlines`` but not for papaparse (nor ``bytes.splitlines``)
_TEXT_ONLY_BREAKS = re.compile(rb"[\x0b\x0c\x1c-\x1e]")
_NOT_ASCII = re.compile(rb"[\x80-\xff]")


def balanced_end(data: bytes, size: int) -> int:
    """Where the last line in the first ``size`` bytes of ``data`` ends whose quotes before it are balanced
    (0: none).

    ``data`` starts where a record does; quotes balanced at a line end mean it
    is a record's end unless a quote stands inside an unquoted cell, and then
    the csv reader fails on the chunk and it is read line by line.
    """
    after = 0  # quotes after the line end looked at
    end = min(size, len(data))
    quotes = data.count(b'"', 0, end)
    while True:
        newline = data.rfind(b"\n", 0, end)
        if newline < 0:
            return 0
        after += data.count(b'"', newline, end)
        if (quotes - after) % 2 == 0:
            return newline + 1
        end = newline


def line_count(chunk: bytes) -> int:
    """The physical lines of ``chunk`` (``\\n``, ``\\r`` or ``\\r\\n`` end one; so many :func:`chunk_lines`
    gives), counted at C speed without splitting."""
    crlf = chunk.count(b"\r\n")
    ends = chunk.count(b"\n") + chunk.count(b"\r") - crlf
    return ends + (1 if chunk and chunk[-1:] not in (b"\n", b"\r") else 0)


def chunk_lines(chunk: bytes, encoding: str | None) -> tuple[list[str], list[int], str | None] | None:
    """The chunk's lines decoded, the byte offset after each, and the encoding decided after them (``encoding``,
    the one decided before; None: ASCII so far); None where the line reader must decide (a NUL byte, a line
    the encoding cannot read, an encoding still to be detected)."""
    if b"\x00" in chunk:
        return None
    if chunk.isascii():
        if _TEXT_ONLY_BREAKS.search(chunk) is None:
            lines = chunk.decode("ascii").splitlines(keepends=True)
        else:
            lines = [line.decode("ascii") for line in chunk.splitlines(keepends=True)]
        return lines, list(accumulate(map(len, lines))), encoding
    raw = chunk.splitlines(keepends=True)
    codec = encoding or UTF8  # a chunk of valid UTF-8 decides UTF-8, as its first line would
    try:
        if codec == UTF8 and _TEXT_ONLY_BREAKS.search(chunk) is None:
            lines = chunk.decode(UTF8).splitlines(keepends=True)
            if len(lines) != len(raw):  # it holds U+0085, U+2028 or U+2029, which end a line in str only
                lines = [line.decode(UTF8) for line in raw]
        else:
            lines = [line.decode(codec) for line in raw]
    except UnicodeDecodeError:
        return None
    return lines, list(accumulate(map(len, raw))), codec


def chunk_batches(stream: BinaryIO, rest: bytes, point: ResumePoint, decoder: "Decoder", limit: BatchLimit,
                  max_record_bytes: int) -> Generator[Batch, None, tuple[ResumePoint, bytes] | None]:
    """The batches of the stream from ``point``, read a chunk at a time; returns None at its end, or the last
    point reported and the bytes from there already read, when the rest is to be read line by line."""
    header, delimiter, width = point.header, point.delimiter, len(point.header)
    ragged = Ragged.at(point)
    offset, line = point.offset, point.line  # where ``data`` starts
    block = min(CHUNK, max_record_bytes)
    data, eof = rest, False
    reported = point
    kept: list[bytes] = []  # the chunks since ``reported`` (from ``kept_at``), to hand over
    kept_at = offset
    records: list[dict[str, Any]] = []
    first_line = 0
    decided: int | None = None  # the line that decided the encoding, when a chunk did
    while True:
        # what was read is parsed before more is asked for: a download may be slow to send the rest
        cut = balanced_end(data, block)
        if not cut and len(data) > block:  # a record longer than a block
            cut = balanced_end(data, len(data))
        if not cut:
            if eof:
                if not data:
                    break
                cut = len(data)
            elif len(data) > max_record_bytes:
                return reported, (b"".join(kept) + data)[reported.offset - kept_at:]
            else:
                more = stream.read(block)
                eof = not more
                data += more
                continue
        chunk, data = data[:cut], data[cut:]
        read = chunk_lines(chunk, decoder.encoding) if len(chunk) <= max_record_bytes else None
        if read is None:
            return reported, (b"".join(kept) + chunk + data)[reported.offset - kept_at:]
        lines, ends, decoder.encoding = read
        if decided is None and decoder.encoding is not None and point.encoding is None:
            # the chunk decided the encoding; points before its first line that is not ASCII say undecided,
            # as the line reader's do
            decided = line + bisect.bisect_right(ends, _NOT_ASCII.search(chunk).start()) + 1
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        done = 0  # lines of the chunk read
        while True:
            try:
                rows = list(islice(reader, limit.rows - len(records)))
            except csv.Error:
                return reported, (b"".join(kept) + chunk + data)[reported.offset - kept_at:]
            if not rows:
                break
            start, done = done, reader.line_num
            if not records:
                first_line = line + start + 1
            if set(map(len, rows)) == {width}:
                records += _typed_rows(header, rows, lines[start:done], delimiter, line + start, ragged)
            else:  # empty lines, rows with more or fewer cells than the header
                found = rows_one_by_one(header, lines[start:done], delimiter, line + start, ragged)
                if found and not records:
                    first_line = found[0][1]
                records += [typed for typed, _, _ in found]
            if len(records) >= limit.rows:
                reported = ResumePoint(offset + ends[done - 1], line + done, header, delimiter,
                                       decoder.encoding if decided is None or line + done >= decided else None,
                                       ragged.count, tuple(ragged.lines))
                kept, kept_at = [], offset
                yield Batch(records, first_line, reported)
                records = []
        kept.append(chunk)
        offset += len(chunk)
        line += len(lines)
    if records:
        yield Batch(records, first_line, ResumePoint(offset, line, header, delimiter, decoder.encoding,
                                                     ragged.count, tuple(ragged.lines)))
    return None


@dataclass
class BlockRecords:
    """The records of one block (:func:`block_records`) and where each ends."""

    records: list[dict[str, Any]]
    #: the attributes the records have, in the order they come
    names: tuple[str, ...]
    #: after each record: the bytes and the lines of the block read (a resume point there is the block's
    #: start plus these)
    offsets: array.array
    lines: array.array
    #: the records with more cells than the header: their index and the line each starts at
    ragged: list[tuple[int, int]]
    #: the encoding decided after the block (None: ASCII so far), and the line that decided it, if one did
    encoding: str | None
    decided_line: int | None


class _EveryRagged(Ragged):
    """The rows with extra cells of one block, every one of them (a block has few rows)."""

    def __init__(self) -> None:
        super().__init__()
        self.every: set[int] = set()

    def add(self, line: int) -> None:
        super().add(line)
        self.every.add(line)


def block_records(chunk: bytes, line: int, header: tuple[str, ...], delimiter: str, encoding: str | None,
                  max_record_bytes: int) -> BlockRecords | None:
    """The typed records of ``chunk``, a block cut where :func:`balanced_end` says (its first line is line
    ``line + 1``); None where the line reader must read it (as :func:`chunk_batches` hands over). Raises
    CsvError for a cell that cannot be stored, naming its line and column."""
    read = chunk_lines(chunk, encoding) if len(chunk) <= max_record_bytes else None
    if read is None:
        return None
    lines, ends, decided = read
    decided_line = None
    if decided is not None and encoding is None:  # this block decided it, at its first line that is not ASCII
        decided_line = line + bisect.bisect_right(ends, _NOT_ASCII.search(chunk).start()) + 1
    csv.field_size_limit(max_record_bytes)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    read_lines = array.array("I")  # after each row
    after = read_lines.append
    try:
        rows = [row for row in reader if after(reader.line_num) is None]
    except csv.Error:
        return None
    if set(map(len, rows)) == {len(header)}:  # no empty line, all as wide as the header
        records = _typed_rows(header, rows, lines, delimiter, line, Ragged())
        return BlockRecords(records, header, array.array("I", map(ends.__getitem__, map((-1).__add__, read_lines))),
                            read_lines, [], decided, decided_line)
    ragged = _EveryRagged()
    found = rows_one_by_one(header, lines, delimiter, line, ragged)
    records = [typed for typed, _, _ in found]
    read_lines = array.array("I", (end for _, _, end in found))
    names = tuple(dict.fromkeys(name for typed in records for name in typed))
    extra = [(index, start) for index, (_, start, _) in enumerate(found) if start in ragged.every]
    return BlockRecords(records, names, array.array("I", map(ends.__getitem__, (n - 1 for n in read_lines))),
                        read_lines, extra, decided, decided_line)


def _typed_rows(header: tuple[str, ...], rows: list[list[str]], lines: list[str], delimiter: str, line: int,
                ragged: Ragged) -> list[dict[str, Any]]:
    """The records of rows as wide as the header (read from ``lines``, the first is line ``line + 1``), typed
    a column at a time."""
    try:
        columns = [type_column(cells) for cells in zip(*rows)]
    except CellError:  # read again one by one, to name the line and column
        rows_one_by_one(header, lines, delimiter, line, ragged)
        raise
    return list(map(dict, map(zip, [header] * len(rows), zip(*columns))))


def rows_one_by_one(header: tuple[str, ...], lines: list[str], delimiter: str, line: int,
                    ragged: Ragged) -> list[tuple[dict[str, Any], int, int]]:
    """The records of ``lines`` (the first is line ``line + 1``), each with the line it starts at and the
    number of ``lines`` read after it."""
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    found = []
    before = 0
    for row in reader:
        start, before = line + before + 1, reader.line_num
        if row:
            found.append((record(header, row, start, ragged), start, before))
    return found
