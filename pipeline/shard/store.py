"""What a shard store is to the shard writer, its recovery and its scans: the interface, apart from RocksDB.

A store is the materialization of one ``shard-log`` partition. Its contract
is what makes at-least-once delivery apply exactly once: every command is
applied in ONE atomic write that also records the log offset it came from
and the command's result (and, for a job's commands, the job's next
sequence number). A command at an offset not above :attr:`Store.offset` is
recognised as applied, and its stored result handed back; a job's command
below :meth:`Store.next_seq` was applied from an earlier copy.

:class:`pipeline.shard.rocksdb.ShardStore` is the implementation.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from .. import codec
from ..codec import KeyedRows


@dataclass
class Result:
    """What applying one command did, reported to the job."""

    parsed: int = 0
    written: int = 0
    #: keys written / skipped, kept only for synchronous requests that need them
    written_keys: list[Any] = field(default_factory=list)
    skipped_keys: list[Any] = field(default_factory=list)

    def to_json(self) -> bytes:
        return codec.dumps([self.parsed, self.written, self.written_keys, self.skipped_keys])

    @classmethod
    def from_json(cls, data: bytes) -> "Result":
        parsed, written, written_keys, skipped_keys = codec.loads(data)
        return cls(parsed, written, written_keys, skipped_keys)


class Store(abc.ABC):
    """One shard's records, and the bookkeeping of the log it materializes."""

    #: the last ``shard-log`` offset applied (-1: none)
    offset: int
    #: the name of the log those offsets count in (see :meth:`begin_epoch`)
    epoch: str | None

    # ---- the exactly-once bookkeeping --------------------------------------------
    def already_applied(self, offset: int) -> bool:
        return offset <= self.offset

    @abc.abstractmethod
    def stored_result(self, offset: int) -> Result | None:
        """The result of the command applied at ``offset``, if it had one worth reporting again."""

    @abc.abstractmethod
    def next_seq(self, job_id: str) -> int:
        """The sequence number of the job's next command not yet applied to this shard."""

    @abc.abstractmethod
    def applied_result(self, job_id: str, seq: int) -> Result | None:
        """What the job's command ``seq`` did when it was applied (its counts only; None if not recorded)."""

    @abc.abstractmethod
    def skip(self, offset: int) -> None:
        """Record a command that changes nothing (so its offset is not replayed)."""

    @abc.abstractmethod
    def begin_epoch(self, offset: int, epoch: str) -> bool:
        """The log now is the one named ``epoch``, starting at ``offset``; True if this store had another."""

    # ---- commands ---------------------------------------------------------------
    @abc.abstractmethod
    def write_batch(self, offset: int, database: str, table: str, primary_key: str, action: str,
                    rows: KeyedRows, txn_time: float, keep_keys: bool = False,
                    job: tuple[str, int] | None = None, names: Sequence[str] | None = None) -> Result:
        """insert / update / upsert ``rows`` (encoded keys and rows, :meth:`pipeline.records.WriteRows.unpack`);
        ``job``: (job id, sequence number) of the command; ``names``: the members every row has, in stored order,
        if the command declares them (:attr:`pipeline.records.ShardCommand.names`)."""

    @abc.abstractmethod
    def delete_keys(self, offset: int, database: str, table: str, keys: list[Any],
                    job: tuple[str, int] | None = None) -> Result:
        """Delete the records of ``keys``; the result names the keys deleted and those not found."""

    @abc.abstractmethod
    def delete_before(self, offset: int, database: str, table: str, before: float) -> Result:
        """Delete the records created before ``before`` (epoch ms)."""

    @abc.abstractmethod
    def drop_table(self, offset: int, database: str, table: str) -> Result:
        """Delete every record of the table."""

    @abc.abstractmethod
    def drop_attribute(self, offset: int, database: str, table: str, attribute: str) -> Result:
        """Remove ``attribute`` from every record of the table that has it."""

    # ---- reads ------------------------------------------------------------------
    @abc.abstractmethod
    def shared_names(self, database: str, table: str) -> list[str] | None:
        """The members every stored row of the table has, in their stored order, where the store knows that
        they all have the same (None: they may differ). A scan of exactly these passes the rows as stored."""

    @abc.abstractmethod
    def scan_raw(self, database: str, table: str) -> Iterator[tuple[bytes, bytes]]:
        """Every record of the table, in key order, as stored: (encoded key, JSON bytes)."""

    @abc.abstractmethod
    def get_many_raw(self, database: str, table: str, keys: list[Any]) -> Iterator[tuple[bytes, bytes]]:
        """The records of ``keys`` that this shard holds, in key order, as stored."""

    def scan(self, database: str, table: str) -> Iterator[tuple[bytes, dict[str, Any]]]:
        """Every record of the table in this shard, in key order: (encoded key, record)."""
        return ((key, codec.loads(raw)) for key, raw in self.scan_raw(database, table))

    def get_many(self, database: str, table: str, keys: list[Any]) -> Iterator[tuple[bytes, dict[str, Any]]]:
        """The records of ``keys`` that this shard holds, in key order."""
        return ((key, codec.loads(raw)) for key, raw in self.get_many_raw(database, table, keys))

    # ---- upkeep -----------------------------------------------------------------
    @abc.abstractmethod
    def memory(self) -> dict[str, int]:
        """Bytes of memory the store holds, by kind (for the worker's metrics)."""

    @abc.abstractmethod
    def checkpoint(self, directory: Path) -> None:
        """A consistent copy of the store, offsets included, in a new ``directory`` (a snapshot)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the store."""
