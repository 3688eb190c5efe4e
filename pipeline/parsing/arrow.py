"""A block of a load parsed by Arrow's C CSV reader, typed and encoded a column at a time: :func:`arrow_block`.

The csv module path (:func:`pipeline.sources.chunks.block_records`, then
:func:`pipeline.codec.rows_bytes`) pays Python for every row and most cells.
Here one ``pyarrow.csv`` read turns the block into string columns; each
column's cells are classified with compute kernels (Harper's rules of
:mod:`pipeline.cells`: canonical integers and decimals, whose JSON is their
own text; words; strings, whose JSON is their text quoted and escaped as
orjson escapes it), and the rows' stored bytes (:class:`pipeline.codec.RowBytes`),
keys (:func:`pipeline.codec.encode_keys`) and shards are built from those
columns. Only the cells the kernels are not sure of (a date, JSON, ``5.0``,
``+5``...) go through :func:`pipeline.cells.type_cell`, one by one.

It answers for a block only where it gives what the csv module path gives,
byte for byte (``tests/unit/test_arrow_blocks.py`` compares them on
random blocks): it returns None, and the block goes that way, for anything
else: a block of few lines (:data:`MIN_ROWS`), not ASCII nor UTF-8, with NUL,
a CR not before LF, a BOM, an empty line, a quote the csv module would read
otherwise (anywhere but around a whole cell), rows not as wide as the header,
keys that are missing or refused, integers beyond 64 bits, a cell nested too
deep, a row over the size limit.

Imported by a parse process when it parses its first block (pyarrow and numpy are some 80 MB of RSS):
not by a worker, which parses the csv module's way when it has no parse processes.
"""
from __future__ import annotations

import array
import re
from typing import Any, NamedTuple

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as arrow_csv

from .. import codec
from ..cells import SPECIAL_START, WORDS, CellError, type_cell
from ..shard.routing import shards_of
from ..sources.rows import UTF8
from .block import ROWS, BlockRequest, ParsedBlock, ShardRows

#: bytes that make a block go the csv module's way: NUL, a BOM, an empty line (and a CR not before LF, a line
#: end for the csv module)
_REFUSED = (b"\x00", b"\xef\xbb\xbf", b"\n\n", b"\n\r\n")
_NOT_ASCII = re.compile(rb"[\x80-\xff]")

#: canonical decimals (and integers) written as orjson writes the double they are: no trailing zero, at most 15
#: significant digits (so the shortest text of the double is theirs) and not below 1e-4 (orjson writes 1e-6)
_NUMBER = "^-?(?:0|[1-9][0-9]{0,17}|" + "|".join(
    f"[1-9][0-9]{{0,{whole}}}\\.(?:[0-9]{{0,{13 - whole}}}[1-9])" for whole in range(14)) + \
    "|0\\.0{0,3}[1-9](?:[0-9]{0,12}[1-9])?)$"
#: the most digits of a canonical integer
_INT_DIGITS = 18
#: the first bytes of a cell that typing may change
_SPECIAL_FIRST = pa.array(sorted(first.encode() for first in SPECIAL_START), pa.binary())
_WORD_CELLS = pa.array(list(WORDS), pa.string())
_WORD_JSON = pa.array([orjson.dumps(value) for value in WORDS.values()], pa.binary())
_TIMES = {codec.CREATED, codec.UPDATED}
#: the fewest rows (lines) of a block this path takes: a column costs it some ten kernel calls whatever its
#: length, about what the csv module path spends on 200 cells (a block of few rows is a short file's, or one
#: of very wide rows: 20,000 columns would take seconds)
MIN_ROWS = 256
_EXACT_FLOATS = 1 << 53


class _Declined(Exception):
    """The block is not one this path gives the same bytes for."""


def arrow_block(request: BlockRequest) -> ParsedBlock | None:
    """The block parsed as :func:`pipeline.parsing.block.csv_block` parses it, or None
    where this path cannot tell it would be the same."""
    try:
        return _parse(request)
    except _Declined:
        return None


def _parse(request: BlockRequest) -> ParsedBlock:
    chunk, header, pk = request.data, request.header, request.primary_key
    if not chunk or len(chunk) > request.max_record_bytes or any(map(chunk.__contains__, _REFUSED)) \
            or chunk.startswith((b"\n", b"\r\n")) or chunk.count(b"\r") != chunk.count(b"\r\n") \
            or len(request.delimiter.encode()) != 1 or request.delimiter in '"\r\n' \
            or len(set(header)) != len(header) or pk not in header or _TIMES & set(header):
        raise _Declined
    encoding, decided_line = request.encoding, None
    ascii_only = chunk.isascii()
    if not ascii_only:
        if encoding not in (None, UTF8):
            raise _Declined
        try:
            chunk.decode(UTF8)
        except UnicodeDecodeError:
            raise _Declined from None
        if encoding is None:  # this block decides UTF-8, at its first line that is not ASCII
            decided_line = request.line + chunk.count(b"\n", 0, _NOT_ASCII.search(chunk).start()) + 1
            encoding = UTF8
    buffer = np.frombuffer(chunk, np.uint8)
    quoted = b'"' in chunk
    if quoted:
        _check_quotes(buffer, ord(request.delimiter))
    newlines = np.flatnonzero(buffer == 10)
    if len(newlines) < MIN_ROWS:
        raise _Declined
    if quoted:  # a line end inside a quoted cell has an odd number of quotes before it
        record_ends = np.flatnonzero(np.searchsorted(np.flatnonzero(buffer == 34), newlines) % 2 == 0)
    else:
        record_ends = np.arange(len(newlines))
    ends = newlines[record_ends] + 1
    lines = record_ends + 1  # the physical lines read after each record
    if ends.size == 0 or ends[-1] != len(chunk):  # the last record has no line end
        ends = np.append(ends, len(chunk))
        lines = np.append(lines, len(newlines) + 1)
    table = _read(chunk, header, request.delimiter)
    count = table.num_rows
    if count != len(ends):
        raise _Declined
    # a cell with a line end or another control character is typed and encoded one by one (orjson escapes them)
    if np.count_nonzero(buffer < 32) != len(newlines) + chunk.count(b"\r"):  # a tab as the delimiter too
        controls = CONTROLS
    else:
        controls = LINE_ENDS if len(record_ends) != len(newlines) else NO_CONTROLS
    # what orjson escapes in a string: a cell holds a quote only where the block has two in a row
    context = _Context(controls, b"\\" in chunk, b'""' in chunk)
    columns = {name: table.column(index).combine_chunks() for index, name in enumerate(header)}
    keys, key_json = _keys(columns[pk], context)
    parts: list[bytes | _Json] = [_Json(keys, False), codec._key_name(pk), key_json]
    for name in sorted(name for name in header if name != pk):
        parts += [b"," + orjson.dumps(name) + b":", _json(columns[name], context)]
    rows = _joined(parts + [b"}"], count)  # key, head and tail of each row
    key_lengths = pc.binary_length(keys).to_numpy(zero_copy_only=False)
    head_lengths = len(codec._key_name(pk)) + pc.binary_length(key_json.values).to_numpy(zero_copy_only=False) \
        + 2 * key_json.quoted
    tail_lengths = pc.binary_length(rows).to_numpy(zero_copy_only=False) - key_lengths - head_lengths
    if int(head_lengths.max()) + int(tail_lengths.max()) > request.max_record_bytes:
        raise _Declined  # the splitter names the row too large
    parsed = ParsedBlock(ROWS, count, header, uniform=True,
                         offsets=array.array("I", ends.astype(np.uint32).tobytes()),
                         lines=array.array("I", lines.astype(np.uint32).tobytes()), encoding=encoding, decided_line=decided_line)
    lengths = np.stack((key_lengths, head_lengths, tail_lengths), axis=1).astype(np.uint32)
    parsed.shards = _by_shard(shards_of(request.table, keys.to_pylist(), request.shards),
                              rows, lengths)
    return parsed


def _joined(parts: list[bytes | _Json], count: int) -> pa.Array:
    """Each row's bytes: the parts joined (the quotes around quoted columns' cells go into the bytes around)."""
    arguments: list[pa.Scalar | pa.Array] = []
    literal = b""
    for part in parts:
        if isinstance(part, bytes):
            literal += part
            continue
        arguments.append(pa.scalar(literal + (b'"' if part.quoted else b""), pa.binary()))
        arguments.append(part.values)
        literal = b'"' if part.quoted else b""
    if not arguments:
        return pa.array([literal] * count, pa.binary())
    return pc.binary_join_element_wise(*arguments, pa.scalar(literal, pa.binary()), b"")


def _check_quotes(buffer: np.ndarray, delimiter: int) -> None:
    """Declines a block with a quote the csv module reads otherwise than Arrow, or fails on (``strict``): every
    quote must open a cell (at its start), close it (before a delimiter or line end) or be doubled inside it.

    The quotes before a quote say which it may be: an even number, it opens a cell or doubles the quote before
    it; an odd number, it closes the cell or is doubled by the quote after it.
    """
    quotes = np.flatnonzero(buffer == 34)
    if len(quotes) % 2:  # a cell still open at the block's end
        raise _Declined
    size = len(buffer)
    opening, closing = quotes[0::2], quotes[1::2]
    before = buffer[np.maximum(opening - 1, 0)]
    opens = (opening == 0) | (before == delimiter) | (before == 10) | (before == 34)
    after = buffer[np.minimum(closing + 1, size - 1)]
    closes = (closing == size - 1) | (after == delimiter) | (after == 10) | (after == 13) | (after == 34)
    if not (opens.all() and closes.all()):
        raise _Declined


def _read(chunk: bytes, header: tuple[str, ...], delimiter: str) -> pa.Table:
    try:
        return arrow_csv.read_csv(
            pa.py_buffer(chunk),
            read_options=arrow_csv.ReadOptions(column_names=list(header), use_threads=False,
                                               block_size=max(len(chunk) + 1, 1 << 16)),
            parse_options=arrow_csv.ParseOptions(delimiter=delimiter, quote_char='"', double_quote=True,
                                                 escape_char=False, newlines_in_values=True,
                                                 ignore_empty_lines=False),
            convert_options=arrow_csv.ConvertOptions(column_types={name: pa.string() for name in header},
                                                     strings_can_be_null=False, quoted_strings_can_be_null=False,
                                                     null_values=[], true_values=[], false_values=[]))
    except (pa.ArrowInvalid, pa.ArrowException):  # rows with more or fewer cells than the header
        raise _Declined from None


class _Json(NamedTuple):
    """A column's cells as JSON: each cell's whole JSON, or (``quoted``) a string's JSON less its quotes, which
    the row's bytes put around it."""

    values: pa.Array  # binary
    quoted: bool


class _Context(NamedTuple):
    """What the block's cells may hold that orjson escapes."""

    controls: int  # NO_CONTROLS, LINE_ENDS, CONTROLS
    backslashes: bool
    quotes: bool


def _escaped(cells: pa.Array, context: _Context) -> pa.Array:
    """Strings (with no control character) escaped as orjson escapes them, less the quotes around them."""
    if context.backslashes:
        cells = pc.replace_substring(cells, "\\", "\\\\")
    if context.quotes:
        cells = pc.replace_substring(cells, '"', '\\"')
    return cells.cast(pa.binary())


def _quoted(cells: pa.Array, context: _Context) -> pa.Array:
    quote = pa.scalar(b'"', pa.binary())
    return pc.binary_join_element_wise(quote, _escaped(cells, context), quote, b"")


def _numbers(cells: pa.Array, integers: bool = False) -> pa.Array:
    """Which cells are canonical numbers (:data:`_NUMBER`), whose JSON is their own text (``-0`` aside); with
    ``integers``, only integers: at most :data:`_INT_DIGITS` digits, no leading zero.

    A column without a decimal point is classified with character-class kernels: pyarrow compiles a pattern
    on every call, and compiling :data:`_NUMBER` cost as much as running it on a block's column.
    """
    if not integers and pc.any(pc.match_substring(cells, ".")).as_py():
        return pc.match_substring_regex(cells, _NUMBER)
    negative = pc.starts_with(cells, "-")
    unsigned = pc.if_else(negative, pc.utf8_slice_codeunits(cells, 1), cells) if pc.any(negative).as_py() \
        else cells
    length = pc.binary_length(unsigned)
    return pc.and_(pc.and_(pc.ascii_is_decimal(unsigned), pc.less_equal(length, _INT_DIGITS)),
                   pc.or_(pc.invert(pc.starts_with(unsigned, "0")), pc.equal(length, 1)))


def _number_json(cells: pa.Array) -> pa.Array:
    """Canonical numbers' text as their JSON: only ``-0`` is written otherwise."""
    if pc.any(pc.equal(cells, "-0")).as_py():
        cells = pc.replace_substring_regex(cells, "^-0$", "0")
    return cells.cast(pa.binary())


#: what a block's cells may hold that orjson escapes: nothing, line ends only (in quoted cells), anything
NO_CONTROLS, LINE_ENDS, CONTROLS = 0, 1, 2


def _odd(cells: pa.Array, first: pa.Array, controls: int) -> pa.Array | None:
    """The cells typed and encoded one by one whatever they look like: with a control character, or starting
    with a character that is not ASCII but a digit (a date's start for cells.auto_cast); None: no such cell."""
    odd = None
    if controls == LINE_ENDS:
        odd = pc.match_substring(cells, "\n")
    elif controls == CONTROLS:
        odd = pc.match_substring_regex(cells, "[\\x00-\\x1f]")
    high = pc.greater_equal(first, pa.scalar(b"\x80", pa.binary()))
    if pc.any(high).as_py():
        indexes = pc.indices_nonzero(high)
        digits = [cell[:1].isdigit() for cell in cells.take(indexes).to_pylist()]
        if any(digits):
            digit = pc.replace_with_mask(pa.nulls(len(cells), pa.bool_()).fill_null(False), high,
                                         pa.array(digits, pa.bool_()))
            odd = digit if odd is None else pc.or_(odd, digit)
    return odd if odd is not None and pc.any(odd).as_py() else None


def _json(cells: pa.Array, context: _Context) -> _Json:
    """Each cell's typed value as orjson writes it."""
    first = pc.binary_slice(cells.cast(pa.binary()), 0, 1)
    special = pc.is_in(first, value_set=_SPECIAL_FIRST)
    words = pc.is_in(cells, value_set=_WORD_CELLS)
    any_special, any_word = pc.any(special).as_py(), pc.any(words).as_py()
    odd = _odd(cells, first, context.controls)
    if not any_special and not any_word:  # strings, but maybe a few with a control character
        escaped = _escaped(cells, context)
        if odd is None:
            return _Json(escaped, True)
        typed = _typed(cells.filter(odd).to_pylist())
        if all(isinstance(value, str) for value in typed):
            return _Json(pc.replace_with_mask(escaped, odd, pa.array(
                [orjson.dumps(value)[1:-1] for value in typed], pa.binary())), True)
    unsure = None
    if any_special:
        numbers = _numbers(cells)
        if pc.all(numbers).as_py():  # no control character nor odd digit either
            return _Json(_number_json(cells), False)
        # digit codes: a leading zero keeps them strings
        codes = pc.and_(pc.starts_with(cells, "0"), pc.ascii_is_decimal(cells))
        unsure = pc.and_(special, pc.invert(pc.or_(numbers, codes)))
        strings = pc.and_(pc.invert(special), pc.invert(words))
        json = pc.if_else(numbers, _number_json(cells), _quoted(cells, context)) \
            if pc.any(pc.or_(strings, codes)).as_py() else _number_json(cells)
    else:
        json = _quoted(cells, context)
    if any_word:
        json = pc.if_else(words, pc.take(_WORD_JSON, pc.index_in(cells, value_set=_WORD_CELLS)), json)
    if odd is not None:
        unsure = odd if unsure is None else pc.or_(unsure, odd)
    if unsure is not None and pc.any(unsure).as_py():
        json = pc.replace_with_mask(json, unsure, pa.array(list(map(_dumps, _typed(cells.filter(unsure).to_pylist()))),
                                                           pa.binary()))
    return _Json(json, False)


def _typed(cells: list[str]) -> list[Any]:
    """Cells typed one by one (:func:`pipeline.cells.type_cell`)."""
    try:
        return list(map(type_cell, cells))
    except CellError:  # nested too deep: the csv module path names the line
        raise _Declined from None


def _dumps(value: Any) -> bytes:
    """A value as :func:`pipeline.codec.row_bytes` writes it."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # beyond 64 bits: written exactly, by the standard library
        raise _Declined from None


def _keys(cells: pa.Array, context: _Context) -> tuple[pa.Array, _Json]:
    """The encoded keys (:func:`pipeline.codec.encode_keys` of the normalized typed cells) and their JSON."""
    first = pc.binary_slice(cells.cast(pa.binary()), 0, 1)
    if pc.all(_numbers(cells, integers=True)).as_py():
        values = pc.cast(cells, pa.int64()).to_numpy()
        if np.abs(values).max() <= _EXACT_FLOATS:
            return _number_keys(values), _Json(_number_json(cells), False)
    elif not pc.any(pc.is_in(first, value_set=_SPECIAL_FIRST)).as_py() \
            and not pc.any(pc.is_in(cells, value_set=_WORD_CELLS)).as_py() and _odd(cells, first, context.controls) is None:
        prefix = pa.scalar(codec._STR, pa.binary())  # plain strings
        return pc.binary_join_element_wise(prefix, cells.cast(pa.binary()), b""), _Json(_escaped(cells, context), True)
    try:
        values = codec.normalize_keys([type_cell(cell) for cell in cells.to_pylist()])
        encoded = codec.encode_keys(values)
        json = [orjson.dumps(value) for value in values]
    except (CellError, codec.InvalidKey, TypeError):  # the splitter's row-by-row path says what is wrong
        raise _Declined from None
    return pa.array(encoded, pa.binary()), _Json(pa.array(json, pa.binary()), False)


def _number_keys(values: np.ndarray) -> pa.Array:
    """:func:`pipeline.codec.encode_key` of integers a double holds exactly: the double's big-endian bits, the
    sign bit set for a number not below 0, every bit flipped below 0, after the number mark."""
    bits = values.astype(np.float64).view(np.uint64)
    bits = np.where(values < 0, ~bits, bits | np.uint64(1 << 63))
    packed = np.empty((len(values), 9), np.uint8)
    packed[:, 0] = codec._NUM[0]
    packed[:, 1:] = bits.astype(">u8").view(np.uint8).reshape(-1, 8)
    offsets = np.arange(0, 9 * len(values) + 1, 9, dtype=np.int32)
    return pa.Array.from_buffers(pa.binary(), len(values), [None, pa.py_buffer(offsets), pa.py_buffer(packed)])


def _by_shard(owners: list[int], rows: pa.Array, lengths: np.ndarray) -> dict[int, ShardRows]:
    """The rows (key, head and tail joined) packed per shard in their order, as parse_block's _by_shard packs
    them."""
    owner = np.asarray(owners, np.int64)
    order = np.argsort(owner, kind="stable")
    shards, starts = np.unique(owner[order], return_index=True)
    bounds = list(starts) + [len(order)]
    packed: dict[int, ShardRows] = {}
    for shard, start, stop in zip(shards.tolist(), bounds, bounds[1:]):
        indexes = order[start:stop]
        taken = rows.take(pa.array(indexes))
        offsets = np.frombuffer(taken.buffers()[1], np.int32, len(taken) + 1, taken.offset * 4)
        data = taken.buffers()[2]
        packed[shard] = ShardRows(
            len(indexes), array.array("I", indexes.astype(np.uint32).tobytes()), lengths[indexes].tobytes(),
            bytes(len(indexes)), data[int(offsets[0]):int(offsets[-1])].to_pybytes(),
            (offsets - offsets[0]).tolist())
    return packed
