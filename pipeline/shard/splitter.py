"""The splitter: turns a stream of records into per-shard WriteBatch commands on ``shard-log``.

A record's shard is a stable hash of (database, table, primary key), so the
insert-skips-existing and update-skips-missing decisions are taken by the one
shard that holds the key, with no locking. Each shard gets commands of up to
``batch_size`` records and about :data:`COMMAND_BYTES` (a record up to
``max_record_bytes`` goes alone; a larger one is refused: a command must fit
in one Kafka message); memory holds at most one partial command per shard,
already encoded, plus a bounded number of commands and bytes in flight.
"""
from __future__ import annotations

import asyncio
import bisect
import random
from operator import itemgetter
from collections import deque
from typing import TYPE_CHECKING, Any, Iterable

from .. import codec
from ..catalog import TableDef
from ..kafka.bus import Bus
from ..records import ShardCommand, WriteRows
from .exceptions import MissingKey, RecordTooLarge
from .routing import shard_of, shards_of, table_crc

if TYPE_CHECKING:
    from ..parsing.block import ShardRows

#: commands produced but not yet acknowledged by the broker, per job, and their bytes (commands of large records
#: are few to a megabyte, so their count alone would let the producer's buffer grow to hundreds of megabytes)
MAX_IN_FLIGHT = 32
MAX_IN_FLIGHT_BYTES = 32 * 1024 ** 2
#: the bytes of records after which a shard's command is sent though it holds fewer than ``batch_size`` records
#: (a record larger than this goes alone): the shard writers buffer commands by count
COMMAND_BYTES = 1024 ** 2


class KeyGenerator:
    """Harper's auto-generated keys for untyped primary keys: numbers counting up from a random start.

    The start is drawn from the job id, so a job that is split again generates the same keys.
    """

    def __init__(self, job_id: str, last: int | None = None) -> None:
        self.last = random.Random(job_id).randrange(0, 1 << 49) if last is None else last

    def __call__(self) -> int:
        self.last += 1
        return self.last


class Splitter:
    """Routes the records of one job to the shards of its table."""

    def __init__(self, bus: Bus, job_id: str, table: TableDef, action: str, shards: int,
                 batch_size: int, max_record_bytes: int, reply_partition: int | None = None,
                 resume: dict[str, Any] | None = None) -> None:
        """``reply_partition``: a synchronous write's, where the shards reply to each command with its keys
        (:mod:`pipeline.kafka.replies`); ``resume``: the state a :meth:`checkpoint` returned, to carry on from
        there."""
        self.bus = bus
        self.job_id = job_id
        self.table = table
        self.action = action
        self.shards = shards
        self.batch_size = batch_size
        self.max_record_bytes = max_record_bytes
        self.reply_partition = reply_partition
        self.parsed = resume["parsed"] if resume else 0
        self.commands = list(resume["commands"]) if resume else [0] * shards
        # each shard's partial command: its rows encoded into one growing buffer (not one object per row:
        # hundreds of thousands of small buffers fragment the heap), and their count
        self._buffers = [WriteRows() for _ in range(shards)]
        #: the members of the rows being added (:attr:`ShardCommand.names`), None where they differ
        self._names: list[str] | None = None
        #: the hash of the table's part of a record's shard (pipeline.shard.routing)
        self.table_crc = table_crc(table.database, table.name)
        self._keys = KeyGenerator(job_id, resume["last_key"] if resume else None)
        self._in_flight: deque[tuple[asyncio.Future, int]] = deque()
        self._in_flight_bytes = 0

    async def add(self, records: Iterable[dict[str, Any]]) -> None:
        pk = self.table.primary_key
        records = list(records)
        for number, record in enumerate(records, self.parsed + 1):
            value = record.get(pk)
            if value is None:
                if self.action == "update":
                    raise MissingKey(f"record {number} of the update has no value for its primary key '{pk}'")
                value = self._keys()
            record[pk] = codec.normalize_key(value)  # raises InvalidKey
        if records:
            first = records[0].keys()
            self._expect(first if all(map(first.__eq__, map(dict.keys, records))) else None)
        # the bytes the shards store, encoded once, their encoded keys and shards (routing.shards_of())
        rows = codec.rows_bytes(records, pk)
        values = list(map(itemgetter(pk), records))
        keys = codec.encode_keys(values)
        for value, key, shard, row in zip(values, keys, shards_of(self.table_crc, keys, self.shards), rows):
            self.parsed += 1
            size = len(row[0]) + len(row[1])
            if size > self.max_record_bytes:
                raise RecordTooLarge(value, size, self.max_record_bytes)
            buffer = self._buffers[shard]
            if buffer.size + size + len(key) > COMMAND_BYTES and buffer.count:
                await self._flush(shard)
                buffer = self._buffers[shard]
            buffer.add(key, row, size)
            if buffer.count >= self.batch_size:
                await self._flush(shard)

    async def add_packed(self, shards: dict[int, "ShardRows"], first: int, stop: int,
                         names: Iterable[str] | None = None) -> None:
        """Rows ``first`` to ``stop`` of a block a parse process encoded and routed (:mod:`pipeline.parsing.block`):
        each shard's share appended to its command in a few slices, cut where :meth:`add` would cut. ``names``:
        the attributes every row of the block has, if they all have the same."""
        self._expect(names)
        for shard, rows in shards.items():
            ends = rows.ends
            start, end = bisect.bisect_left(rows.rows, first), bisect.bisect_left(rows.rows, stop)
            while start < end:
                buffer = self._buffers[shard]
                # as many rows as fit the command, by count and by bytes; a row larger than a command goes alone
                cut = min(end, start + self.batch_size - buffer.count,
                          bisect.bisect_right(ends, ends[start] + COMMAND_BYTES - buffer.size, start) - 1)
                if cut <= start:
                    if buffer.count:
                        await self._flush(shard)
                        continue
                    cut = start + 1
                buffer.extend(cut - start, rows.lengths[12 * start:12 * cut], rows.exact[start:cut],
                              rows.data[ends[start]:ends[cut]])
                start = cut
                if buffer.count >= self.batch_size:
                    await self._flush(shard)
        self.parsed += stop - first

    async def add_keys(self, keys: Iterable[Any]) -> None:
        """Route a delete of ``keys`` (one DELETE_KEYS command per shard that holds some)."""
        per_shard: dict[int, list[Any]] = {}
        for value in keys:
            value = codec.normalize_key(value)  # raises InvalidKey
            self.parsed += 1
            per_shard.setdefault(shard_of(self.table_crc, codec.encode_key(value), self.shards), []).append(value)
        for shard, values in per_shard.items():
            await self._send(shard, "DELETE_KEYS", codec.dumps(values))

    async def checkpoint(self) -> dict[str, Any]:
        """Send what is buffered, wait until the broker has every command; the state to resume from."""
        for shard in range(self.shards):
            if self._buffers[shard].count:
                await self._flush(shard)
        while self._in_flight:
            await self._acknowledged()
        return {"parsed": self.parsed, "commands": list(self.commands), "last_key": self._keys.last}

    async def finish(self) -> list[int]:
        """Send what is buffered, wait until the broker has every command; return commands per shard."""
        return (await self.checkpoint())["commands"]

    def _expect(self, names: Iterable[str] | None) -> None:
        """The rows added next have the attributes ``names`` (None: not all the same): each command declares
        the members its rows share (:attr:`ShardCommand.names`)."""
        self._names = None if names is None else codec.stored_names(names, self.table.primary_key)
        for buffer in self._buffers:
            buffer.expect(self._names)

    async def _flush(self, shard: int) -> None:
        rows = self._buffers[shard]
        self._buffers[shard] = WriteRows(self._names)
        await self._send(shard, "WRITE_BATCH", rows.payload(), rows.names)

    async def _send(self, shard: int, kind: str, payload: bytes, names: list[str] | None = None) -> None:
        record = ShardCommand(kind, self.job_id, self.table.database, self.table.name, seq=self.commands[shard],
                              primary_key=self.table.primary_key,
                              action=self.action if kind == "WRITE_BATCH" else None, payload=payload,
                              reply="keys" if self.reply_partition is not None else None,
                              reply_partition=self.reply_partition, names=names)
        self.commands[shard] += 1
        self._in_flight.append((await self.bus.send_record(record, key=str(shard).encode(), partition=shard),
                                len(payload)))
        self._in_flight_bytes += len(payload)
        while len(self._in_flight) > MAX_IN_FLIGHT or self._in_flight_bytes > MAX_IN_FLIGHT_BYTES:
            await self._acknowledged()

    async def _acknowledged(self) -> None:
        """Wait for the oldest command in flight to be acknowledged."""
        delivery, size = self._in_flight.popleft()
        self._in_flight_bytes -= size
        await delivery

