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
from collections import Counter
from dataclasses import dataclass, field
from itertools import accumulate, chain, repeat
from operator import itemgetter
from typing import Any

from .. import codec
from ..codec import InvalidKey
from ..shard.routing import shards_of
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
    #: every record has exactly ``names`` (no short row, no extra cells)
    uniform: bool = False
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
    from .arrow import arrow_block  # pyarrow is loaded where blocks are parsed, not where they are cut

    parsed = arrow_block(request)
    if parsed is not None:
        return parsed
    return csv_block(request)


def csv_block(request: BlockRequest) -> ParsedBlock:
    """The block read by the csv module, typed a column at a time and encoded (the way of any block)."""
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
        values = codec.normalize_keys(list(map(dict.get, records, repeat(pk))))
    except InvalidKey:  # None among them too: a row without a key
        parsed.kind, parsed.records = RECORDS, records
        return parsed
    list(map(dict.__setitem__, records, repeat(pk), values))
    rows = codec.rows_bytes(records, pk)
    if max(map(len, map(itemgetter(0), rows))) + max(map(len, map(itemgetter(1), rows))) > request.max_record_bytes:
        parsed.kind, parsed.records = RECORDS, records  # the splitter names the row too large
        return parsed
    parsed.shards = _by_shard(codec.encode_keys(values), rows, request.table, request.shards)
    parsed.uniform = min(map(len, records)) == len(read.names)
    return parsed


def _by_shard(keys: list[bytes], rows: list[codec.RowBytes], table: int, shards: int) -> dict[int, ShardRows]:
    """The rows packed per shard, in their order, with no Python per row: the rows' indexes sorted by shard
    (a stable sort keeps their order), each shard's taken at once."""
    owners = shards_of(table, keys, shards)
    order = sorted(range(len(keys)), key=owners.__getitem__)
    heads, tails, exact = list(map(itemgetter(0), rows)), list(map(itemgetter(1), rows)), list(map(itemgetter(2), rows))
    packed = {}
    start = 0
    for shard, count in sorted(Counter(owners).items()):
        indexes = order[start:start + count]
        start += count
        take = itemgetter(*indexes)
        shard_keys, shard_heads, shard_tails = (take(keys), take(heads), take(tails)) if count > 1 else \
            ((keys[indexes[0]],), (heads[indexes[0]],), (tails[indexes[0]],))
        lengths = list(map(len, shard_keys)), list(map(len, shard_heads)), list(map(len, shard_tails))
        packed[shard] = ShardRows(
            count, array.array("I", indexes), array.array("I", chain.from_iterable(zip(*lengths))).tobytes(),
            bytes(take(exact) if count > 1 else (exact[indexes[0]],)),
            b"".join(chain.from_iterable(zip(shard_keys, shard_heads, shard_tails))),
            list(accumulate(map(sum, zip(*lengths)), initial=0)))
    return packed
