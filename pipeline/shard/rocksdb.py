"""The shard store in RocksDB (rocksdict): one database per ``shard-log`` partition.

Every command is applied in ONE RocksDB write that also stores the log offset
it came from and the command's result. A redelivered command (offset not
above the stored one) is therefore recognised, not applied twice, and its
stored result is handed back so the job still hears about it: an
exactly-once effect from at-least-once delivery (the contract of
:class:`pipeline.shard.store.Store`).

The same command can also reach the log twice at different offsets, when a
load is resumed by another worker and re-sends what its first worker may
already have sent. The store keeps, per job, the next sequence number it
expects, in the same write; a command below it is already applied. It also
keeps what each of the job's commands did, so the command sent again is
reported again: its first report may have been lost with the broker's log.
"""
from __future__ import annotations

import struct
from collections import deque
from pathlib import Path
from typing import Any, Iterator, Sequence

from rocksdict import BlockBasedOptions, Cache, Checkpoint, Options, Rdict, WriteBatch, WriteBufferManager

from .. import codec
from ..codec import KeyedRows
from .store import Result, Store

_OFFSET = b"\x00offset"
_EPOCH = b"\x00epoch"
_RESULT = b"\x00result/"
_JOB = b"\x00job/"
_APPLIED = b"\x00applied/"
_TALLY = b"\x00tally/"
#: per table, the members every row of it has (ShardStore.shared_names), or _MIXED
_NAMES = b"\x00names/"
_MIXED = b""
_DATA = b"d"
_SEP = b"\x00"


#: records rewritten or deleted per RocksDB write by a command over a whole table (dropping an attribute,
#: deleting the records before a date): memory stays bounded for any table
REWRITE_CHUNK = 10_000
#: memory is shared by all the shards of a worker, so it does not grow with their number (it does only if every
#: store is opened with these options: see :class:`ShardStore`)
MEMTABLE_BYTES = 64 * 1024 * 1024
#: a scan reads each block once, so a larger cache mostly holds what it has read already; 16 MB, not 32, keeps
#: every worker 16 MB smaller under the 300 MB bound at 3M rows (an upsert's reads: see bench/RESULTS.md)
BLOCK_CACHE_BYTES = 16 * 1024 * 1024
#: Over the limit, the shard being written flushes its memtable. Stalling writes instead (allow_stall) hung
#: a large delete_records_before for good: it waited for memory held by other shards' memtables, which
#: nothing flushed.
_memtables = WriteBufferManager(MEMTABLE_BYTES, False)
_block_cache = Cache(BLOCK_CACHE_BYTES)


def _options() -> Options:
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_write_buffer_size(16 * 1024 * 1024)
    options.set_write_buffer_manager(_memtables)
    table = BlockBasedOptions()
    table.set_block_cache(_block_cache)
    table.set_cache_index_and_filter_blocks(True)
    options.set_block_based_table_factory(table)
    return options


def _applied_key(job_id: str, seq: int) -> bytes:
    return _APPLIED + job_id.encode() + _SEP + struct.pack(">q", seq)


def table_prefix(database: str, table: str) -> bytes:
    return _DATA + database.encode() + _SEP + table.encode() + _SEP


def _names_key(database: str, table: str) -> bytes:
    return _NAMES + database.encode() + _SEP + table.encode()


class ShardStore(Store):
    """The RocksDB of one shard partition."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        # column_families given (the default family only): opening an existing store without them, rocksdict
        # loads the options persisted in its OPTIONS file instead of these, and a file holds no pointer options:
        # the store came back with RocksDB's default 8 MB block cache of its own and no write buffer manager
        # (measured: a 1M-row export grew each worker's heap by 8 MB per shard it scanned, 64 MB for 8 shards,
        # not bounded by :data:`BLOCK_CACHE_BYTES`)
        self.db = Rdict(str(path), _options(), column_families={})
        raw = self.db.get(_OFFSET)
        self.offset: int = struct.unpack(">q", raw)[0] if raw is not None else -1
        epoch = self.db.get(_EPOCH)
        self.epoch: str | None = epoch.decode() if epoch is not None else None

    def close(self) -> None:
        self.db.close()

    def checkpoint(self, directory: Path) -> None:
        Checkpoint(self.db).create_checkpoint(str(directory))

    # ---- the exactly-once bookkeeping --------------------------------------------
    def stored_result(self, offset: int) -> Result | None:
        raw = self.db.get(_RESULT + struct.pack(">q", offset))
        return Result.from_json(raw) if raw is not None else None

    def next_seq(self, job_id: str) -> int:
        """The sequence number of the job's next command not yet applied to this shard."""
        raw = self.db.get(_JOB + job_id.encode())
        return struct.unpack(">q", raw)[0] if raw is not None else 0

    def applied_result(self, job_id: str, seq: int) -> Result | None:
        raw = self.db.get(_applied_key(job_id, seq))
        return Result.from_json(raw) if raw is not None else None

    def _commit(self, batch: WriteBatch, offset: int, result: Result, keep_result: bool,
                job: tuple[str, int] | None = None) -> None:
        if job is not None:
            job_id, seq = job
            batch.put(_JOB + job_id.encode(), struct.pack(">q", seq + 1))
            batch.put(_applied_key(job_id, seq), Result(result.parsed, result.written).to_json())
        batch.put(_OFFSET, struct.pack(">q", offset))
        if keep_result:
            batch.put(_RESULT + struct.pack(">q", offset), result.to_json())
        self.db.write(batch)
        self.offset = offset

    # ---- commands ---------------------------------------------------------------
    def write_batch(self, offset: int, database: str, table: str, primary_key: str, action: str,
                    rows: KeyedRows, txn_time: float, keep_keys: bool = False,
                    job: tuple[str, int] | None = None, names: Sequence[str] | None = None) -> Result:
        """insert / update / upsert ``rows`` (their keys normalized by the splitter).

        A row new to the store is stored as the splitter encoded it, the two
        timestamps spliced in; only a row merged into one stored (update,
        upsert) is decoded and encoded again. ``job``: (job id, sequence
        number) of the command, recorded with it. ``names``: the members every
        row has, if the command declares them; the table's marker of
        :meth:`shared_names` follows, in the same write.
        """
        prefix = table_prefix(database, table)
        keys = list(map(prefix.__add__, rows.keys))
        present = self.db.get(keys)
        times = codec.stored_times(txn_time, txn_time)
        result = Result(parsed=len(keys))
        batch = WriteBatch(raw_mode=True)
        if action != "update" and present.count(None) == len(keys) and b"\x01" not in rows.exact \
                and len(set(keys)) == len(keys):
            # every row new, once (a load's usual write): all stored as the splitter encoded them, at C speed
            deque(map(batch.put, keys, map(times.join, zip(rows.heads, rows.tails))), maxlen=0)
            result.written = len(keys)
            if keep_keys:
                result.written_keys = list(map(codec.decode_key, rows.keys))
        else:
            self._write_rows(batch, keys, dict(zip(keys, present)), rows, primary_key, action, txn_time, times,
                             result, keep_keys)
        if result.written:
            marker = _names_key(database, table)
            before = self.db.get(marker)
            after = self._names_after_write(prefix, before, names, action != "update" and None in present)
            if after != before:
                batch.put(marker, after)
        self._commit(batch, offset, result, keep_result=True, job=job)
        return result

    @staticmethod
    def _write_rows(batch: WriteBatch, keys: list[bytes], current: dict[bytes, bytes | None], rows: KeyedRows,
                    primary_key: str, action: str, txn_time: float, times: bytes, result: Result,
                    keep_keys: bool) -> None:
        """:meth:`write_batch` a row at a time: rows stored already (merged or skipped), a key twice."""
        for index, key in enumerate(keys):
            old, row = current[key], rows.row(index)
            if old is None:  # a new row: stored as the splitter encoded it
                new = None if action == "update" else row.stored(times)
            elif action == "insert":
                new = None
            else:
                stored = codec.loads(old)
                new = codec.row_bytes({**stored, **row.record()}, primary_key).stored(
                    codec.stored_times(stored.get(codec.CREATED, txn_time), txn_time))
            if new is None:
                if keep_keys:
                    result.skipped_keys.append(codec.decode_key(rows.keys[index]))
                continue
            current[key] = new
            batch.put(key, new)
            result.written += 1
            if keep_keys:
                result.written_keys.append(codec.decode_key(rows.keys[index]))

    def _names_after_write(self, prefix: bytes, before: bytes | None, names: Sequence[str] | None,
                           fresh: bool) -> bytes:
        """A table's names marker after a write of rows declared to have ``names`` (None: undeclared) that wrote
        some; ``fresh``: some were new rows (stored with ``names`` alone), the others were merged into stored
        ones (which then have the stored names and ``names``).

        No marker (a table this store never wrote with one, or dropped) is
        known only where the table has no row.
        """
        if names is None or before == _MIXED:
            return _MIXED
        declared = codec.dumps(list(names))
        if before is None:
            it = self.db.iter()
            it.seek(prefix)
            return declared if not (it.valid() and it.key().startswith(prefix)) else _MIXED
        if before == declared or (not fresh and set(names) <= set(codec.loads(before))):
            return before
        return _MIXED

    def delete_keys(self, offset: int, database: str, table: str, keys: list[Any],
                    job: tuple[str, int] | None = None) -> Result:
        prefix = table_prefix(database, table)
        encoded = [prefix + codec.encode_key(k) for k in keys]
        present = self.db.get(encoded)
        result = Result(parsed=len(keys))
        batch = WriteBatch(raw_mode=True)
        for key, enc, raw in zip(keys, encoded, present):
            if raw is None:
                result.skipped_keys.append(key)
            else:
                batch.delete(enc)
                result.written += 1
                result.written_keys.append(key)
        self._commit(batch, offset, result, keep_result=True, job=job)
        return result

    def delete_before(self, offset: int, database: str, table: str, before: float) -> Result:
        """Delete the records created before ``before`` (epoch ms), :data:`REWRITE_CHUNK` records per write.

        Each write also keeps how many the command has deleted so far (its
        tally, under its offset); the last one records the offset and the
        result and drops the tally. A worker that stops halfway replays the
        command: what it deleted is gone, and the count goes on from the
        tally, so every record is counted once. The tally's key names the log's
        epoch: a log that starts again reuses offsets.
        """
        prefix = table_prefix(database, table)
        tally = _TALLY + (self.epoch or "").encode() + _SEP + struct.pack(">q", offset)
        raw = self.db.get(tally)
        deleted = struct.unpack(">q", raw)[0] if raw is not None else 0
        batch = WriteBatch(raw_mode=True)
        pending = 0
        for key, record in self.scan(database, table):
            created = record.get("__createdtime__")
            if isinstance(created, (int, float)) and created < before:
                batch.delete(prefix + key)
                deleted += 1
                pending += 1
                if pending >= REWRITE_CHUNK:
                    batch.put(tally, struct.pack(">q", deleted))
                    self.db.write(batch)
                    batch, pending = WriteBatch(raw_mode=True), 0
        batch.delete(tally)
        result = Result(parsed=deleted, written=deleted)
        self._commit(batch, offset, result, keep_result=True)
        return result

    def drop_table(self, offset: int, database: str, table: str) -> Result:
        prefix = table_prefix(database, table)
        batch = WriteBatch(raw_mode=True)
        batch.delete_range(prefix, prefix[:-1] + b"\x01")
        batch.delete(_names_key(database, table))
        result = Result()
        self._commit(batch, offset, result, keep_result=True)
        return result

    def drop_attribute(self, offset: int, database: str, table: str, attribute: str) -> Result:
        """Rewrite the records that have ``attribute`` without it, :data:`REWRITE_CHUNK` records per write.

        Only the last write records the offset; the earlier ones are safe to
        apply again (removing an attribute twice removes it once), so a worker
        that stops halfway replays the command from the start.

        Where every row had the same members (:meth:`shared_names`), they now
        all lack ``attribute``: the last write narrows the marker, the earlier
        ones mark the rows mixed (as a stop between them leaves them).
        """
        prefix = table_prefix(database, table)
        marker = _names_key(database, table)
        shared = self.db.get(marker)
        narrowed = None
        if shared:
            names = codec.loads(shared)
            if attribute in names:
                narrowed = codec.dumps([name for name in names if name != attribute])
        result = Result()
        batch = WriteBatch(raw_mode=True)
        pending = 0
        for key, record in self.scan(database, table):
            if attribute not in record:
                continue
            del record[attribute]
            batch.put(prefix + key, codec.dumps(record))
            result.written += 1
            pending += 1
            if pending >= REWRITE_CHUNK:
                if narrowed is not None:
                    batch.put(marker, _MIXED)
                self.db.write(batch)
                batch, pending = WriteBatch(raw_mode=True), 0
        if narrowed is not None:
            batch.put(marker, narrowed)
        result.parsed = result.written
        self._commit(batch, offset, result, keep_result=False)
        return result

    def begin_epoch(self, offset: int, epoch: str) -> bool:
        """The log now is the one named ``epoch``, starting at ``offset``; True if this store had another.

        The records stay: they are the data. Only the offsets, which counted
        positions in a log that is gone, start again.
        """
        rebased = self.offset >= 0 and self.epoch != epoch
        batch = WriteBatch(raw_mode=True)
        batch.put(_EPOCH, epoch.encode())
        self._commit(batch, offset, Result(), keep_result=False)
        self.epoch = epoch
        return rebased

    def memory(self) -> dict[str, int]:
        """This store's memtables and table readers; ``block_cache`` is the cache every store of the process
        shares (:data:`_block_cache`), the same figure from each."""
        value = self.db.property_int_value
        return {"memtables": value("rocksdb.cur-size-all-mem-tables") or 0,
                "table_readers": value("rocksdb.estimate-table-readers-mem") or 0,
                "block_cache": value("rocksdb.block-cache-usage") or 0}

    def skip(self, offset: int) -> None:
        """Record a command that changes nothing (so its offset is not replayed)."""
        self._commit(WriteBatch(raw_mode=True), offset, Result(), keep_result=False)

    # ---- reads ------------------------------------------------------------------
    def shared_names(self, database: str, table: str) -> list[str] | None:
        value = self.db.get(_names_key(database, table))
        return codec.loads(value) if value else None

    def scan_raw(self, database: str, table: str) -> Iterator[tuple[bytes, bytes]]:
        """As :meth:`scan`, the records as stored (JSON bytes), for scans that pass them on undecoded."""
        prefix = table_prefix(database, table)
        it = self.db.iter()
        it.seek(prefix)
        while it.valid():
            key = it.key()
            if not key.startswith(prefix):
                break
            yield key[len(prefix):], it.value()
            it.next()

    def get_many_raw(self, database: str, table: str, keys: list[Any]) -> Iterator[tuple[bytes, bytes]]:
        prefix = table_prefix(database, table)
        encoded = sorted({codec.encode_key(codec.normalize_key(k)) for k in keys})
        for key, raw in zip(encoded, self.db.get([prefix + k for k in encoded])):
            if raw is not None:
                yield key, raw
