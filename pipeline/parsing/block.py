"""What a parse process makes of one block of a load: its rows encoded as the shards store them, per shard.

:func:`parse_block` reads the block's records (:func:`pipeline.sources.chunks.block_records`,
Harper's typing a column at a time), normalizes and encodes their primary keys,
encodes the rows once (:func:`pipeline.codec.rows_bytes`) and routes each to
its shard (:func:`pipeline.shard.routing.shard_of`). Each shard's rows come
back packed as :class:`pipeline.records.WriteRows` packs them (lengths, exact
flags, bytes), so the splitter appends a shard's share of a block with a few
slices and no Python per row.

A block it does not finish comes back for the job's process to deal with:
- :data:`FALLBACK`: the block reader would hand it to the line reader (an odd
  file); the job reads from there in batches.
- :data:`RECORDS`: a row without a primary key (the job's key generator
  counts on, in order), a key Harper refuses or a row over the size limit
  (the splitter raises with the row's number in the load): the typed records,
  for the splitter's row-by-row path.
- :data:`ERROR`: a cell that cannot be stored, with the message naming its line and column.

Only this module's imports are loaded in a parse process: keep them light.
"""
from __future__ import annotations

import array
from dataclasses import dataclass, field
from itertools import accumulate, repeat
from operator import itemgetter
from typing import Any

from .. import codec
from ..codec import InvalidKey
from ..shard.routing import shard_of
from ..sources.chunks import block_records
from ..sources.exceptions import CsvError

ROWS = "rows"
RECORDS = "records"
FALLBACK = "fallback"
ERROR = "error"
#: a parse process failed on the block with an error nobody meant (see :class:`pipeline.parsing.exceptions.ParseFailed`)
FAILED = "failed"


@dataclass(frozen=True)
class BlockRequest:
    """A block of a load and what a parse process needs to know to route its rows."""

    data: bytes
    line: int  # physical lines before the block
    header: tuple[str, ...]
    delimiter: str
    encoding: str | None
    max_record_bytes: int
    primary_key: str
    table: int  # pipeline.shard.routing.table_crc
    shards: int


@dataclass
class ShardRows:
    """One shard's rows of a block, packed as :class:`pipeline.records.WriteRows` packs them."""

    count: int
    rows: array.array  # the index of each row in the block
    lengths: bytes  # native unsigned 32-bit: the key's, head's and tail's length of each row
    exact: bytes  # a byte per row: RowBytes.exact
    data: bytes  # key, head, tail of each row
    ends: list[int]  # where each row ends in ``data`` (after a leading 0)


@dataclass
class ParsedBlock:
    kind: str
    #: the block's records (ROWS, RECORDS)
    count: int = 0
    #: the attributes its records have, in the order they come
    names: tuple[str, ...] = ()
    shards: dict[int, ShardRows] = field(default_factory=dict)
    records: list[dict[str, Any]] | None = None
    #: after each record, the bytes and lines of the block read (see BlockRecords)
    offsets: array.array = field(default_factory=lambda: array.array("I"))
    lines: array.array = field(default_factory=lambda: array.array("I"))
    #: the records with extra cells: their index and line
    ragged: list[tuple[int, int]] = field(default_factory=list)
    #: the encoding decided after the block, and the line that decided it if the block did
    encoding: str | None = None
    decided_line: int | None = None
    #: ERROR, FAILED: what is wrong (and the line)
    message: str | None = None
    line: int | None = None


def parse_block(request: BlockRequest) -> ParsedBlock:
    try:
        read = block_records(request.data, request.line, request.header, request.delimiter, request.encoding,
                             request.max_record_bytes)
    except CsvError as err:
        return ParsedBlock(ERROR, message=str(err), line=err.line)
    if read is None:
        return ParsedBlock(FALLBACK)
    records = read.records
    parsed = ParsedBlock(ROWS, len(records), read.names, offsets=read.offsets, lines=read.lines, ragged=read.ragged,
                         encoding=read.encoding, decided_line=read.decided_line)
    if not records:
        return parsed
    pk = request.primary_key
    try:
        values = list(map(codec.normalize_key, map(dict.get, records, repeat(pk))))
    except InvalidKey:  # None among them too: a row without a key
        parsed.kind, parsed.records = RECORDS, records
        return parsed
    list(map(dict.__setitem__, records, repeat(pk), values))
    rows = codec.rows_bytes(records, pk)
    if max(map(len, map(itemgetter(0), rows))) + max(map(len, map(itemgetter(1), rows))) > request.max_record_bytes:
        parsed.kind, parsed.records = RECORDS, records  # the splitter names the row too large
        return parsed
    parsed.shards = _by_shard(list(map(codec.encode_key, values)), rows, request.table, request.shards)
    return parsed


def _by_shard(keys: list[bytes], rows: list[codec.RowBytes], table: int, shards: int) -> dict[int, ShardRows]:
    parts: dict[int, list[bytes]] = {}
    exact: dict[int, bytearray] = {}
    indexes: dict[int, array.array] = {}
    for index, key, row in zip(range(len(keys)), keys, rows):
        shard = shard_of(table, key, shards)
        if shard in parts:
            parts[shard] += key, row[0], row[1]
            exact[shard].append(row[2])
            indexes[shard].append(index)
        else:
            parts[shard] = [key, row[0], row[1]]
            exact[shard] = bytearray((row[2],))
            indexes[shard] = array.array("I", (index,))
    packed = {}
    for shard, pieces in parts.items():
        lengths = array.array("I", map(len, pieces))
        sizes = map(sum, zip(lengths[0::3], lengths[1::3], lengths[2::3]))
        packed[shard] = ShardRows(len(exact[shard]), indexes[shard], lengths.tobytes(), bytes(exact[shard]),
                                  b"".join(pieces), list(accumulate(sizes, initial=0)))
    return packed
