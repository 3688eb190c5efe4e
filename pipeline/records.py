"""Typed records for what crosses the Avro topics, and their codec: the one place such a record is built.

- :class:`ShardCommand` on ``shard-log``: one command of a table shard's ordered log;
- :class:`JobEvent` on ``job-status``: one state change or progress report of a job (the ``JobStatus``
  schema);
- :class:`ShardReply` on ``export-results``: a shard's reply to the request that sent it a command (the
  ``ExportResult`` schema): the rows of a scan, or the keys a write applied;
- :class:`DataChunks`, in a job's envelope on ``operations`` (JSON): where a large csv_data_load's data is
  on ``operation-data``;
- :class:`WriteRows`: the payload of a WRITE_BATCH, its rows encoded once by the splitter as the shard
  stores them.

Each is written with fastavro's schemaless writer, so a consumer outside this
project decodes it with the ``.avsc`` file alone
(``fastavro.schemaless_reader(buf, parse_schema(avsc))``, see
:mod:`pipeline.schemas`). A field added to a schema is added here, with the
schema's default.
"""
from __future__ import annotations

import array
import io
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, TypeVar

import fastavro

from . import codec, schemas
from .errors import PipelineError

R = TypeVar("R", bound="AvroRecord")


class AvroRecord:
    """A record of one Avro topic: ``TOPIC`` names it, its fields are its schema's."""

    TOPIC: ClassVar[str]

    def encode(self) -> bytes:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, schemas.avro(self.TOPIC), vars(self))
        return buffer.getvalue()

    @classmethod
    def decode(cls: type[R], data: bytes) -> R:
        """A value of the topic; one written before the schema's last fields were added gets their defaults."""
        current = schemas.avro(cls.TOPIC)
        try:
            return cls(**fastavro.schemaless_reader(io.BytesIO(data), current))
        except EOFError:
            for earlier in schemas.earlier_avro(cls.TOPIC):
                buffer = io.BytesIO(data)
                try:
                    fields = fastavro.schemaless_reader(buffer, earlier, current)
                except EOFError:
                    continue
                if buffer.tell() == len(data):
                    return cls(**fields)
            raise


def _now_ms() -> float:
    return time.time() * 1000.0


@dataclass(frozen=True)
class ShardCommand(AvroRecord):
    """One command of a shard's log: WRITE_BATCH, DELETE_KEYS, DELETE_BEFORE, SCAN, DROP_TABLE, DROP_ATTRIBUTE,
    EPOCH, or an SQL UPDATE/DELETE evaluated on the shard's rows (SQL_UPDATE, SQL_DELETE)."""

    TOPIC: ClassVar[str] = "shard-log"

    kind: str
    job_id: str
    database: str = ""
    table: str = ""
    #: the command's sequence number within (job, shard)
    seq: int = 0
    primary_key: str = ""
    #: insert, update or upsert (WRITE_BATCH)
    action: str | None = None
    #: epoch ms: the write's __updatedtime__ (and __createdtime__ of new records)
    txn_time: float = field(default_factory=_now_ms)
    #: the rows (WRITE_BATCH: :class:`WriteRows`); JSON: the keys (DELETE_KEYS), the scan spec (SCAN), the attribute
    #: (DROP_ATTRIBUTE), the statement (SQL_UPDATE, SQL_DELETE: query.dml.DmlSpec); the log's name (EPOCH)
    payload: bytes = b""
    #: DELETE_BEFORE: delete the records created before this epoch ms
    before: float | None = None
    #: set by a synchronous write: the shard replies with the keys it wrote and skipped
    reply: str | None = None
    #: the partition of ``export-results`` the requester reads (:class:`pipeline.kafka.replies.Replies`), where
    #: the shard replies; None: the request id's partition (a command written before the field existed)
    reply_partition: int | None = None
    #: WRITE_BATCH: the members every row of the command has, in the order the shard stores them
    #: (:func:`pipeline.codec.stored_names`); None: not declared, the rows may differ. The store keeps from it
    #: whether every row of a table has the same names, so a scan of those names passes the rows undecoded.
    names: list[str] | None = None

    @classmethod
    def epoch(cls, name: bytes) -> "ShardCommand":
        """The first command of every partition of a new ``shard-log``: its payload names the log."""
        return cls("EPOCH", "", txn_time=0.0, payload=name)


@dataclass(frozen=True)
class JobEvent(AvroRecord):
    """One event of a job (``JobStatus`` in job-status.avsc); built by :func:`pipeline.jobs.events.event`."""

    TOPIC: ClassVar[str] = "job-status"

    job_id: str
    #: CREATED, STARTED, SPLIT_PROGRESS, SPLIT_DONE, BATCH_APPLIED, RESUMED, REQUEUED, COMPLETE or ERROR
    event: str
    #: the job's status after this event, as Harper names it
    status: str
    time: int
    type: str | None = None
    user: str | None = None
    worker: str | None = None
    shard: int | None = None
    seq: int | None = None
    parsed: int = 0
    written: int = 0
    #: SPLIT_DONE: how many commands each shard was sent
    shard_commands: list[int] | None = None
    #: Harper's job message; JSON text when ``message_is_json``
    message: str | None = None
    message_is_json: bool = False
    #: JSON text of the job's result (exports)
    result: str | None = None
    #: JSON: the checkpoint of SPLIT_PROGRESS, RESUMED and REQUEUED; the kept request of CREATED and STARTED
    detail: bytes | None = None


@dataclass(frozen=True)
class ShardReply(AvroRecord):
    """A shard's reply on ``export-results``, keyed by the request's id (``ExportResult`` in its .avsc).

    ROWS carries rows of a scan; DONE closes the shard's stream; ERROR ends it;
    APPLIED answers one command of a synchronous write with the keys it wrote
    and skipped.
    """

    TOPIC: ClassVar[str] = "export-results"

    job_id: str
    shard: int
    kind: str
    #: sequence within (request, shard): a scan's message number; a write's command number
    seq: int
    rows: bytes = b""
    count: int = 0
    message: str | None = None


class DataStream:
    """csv_data_load's ``data`` when it does not travel inside its operation (too large for one message):
    spooled with its request (:class:`pipeline.sources.data.SpooledData`), then in chunks on
    ``operation-data`` (:class:`DataChunks`). Harper's checks accept either as the operation's data."""


class InvalidReference(PipelineError):
    """An envelope's ``data`` that does not say where a job's data chunks are."""


@dataclass(frozen=True)
class DataChunks(DataStream):
    """Where a job's data is: ``chunks`` messages keyed by ``job_id`` from ``offset`` of ``partition`` of
    ``operation-data`` on (each with its sequence number in a ``seq`` header); ``size`` bytes in all."""

    job_id: str
    partition: int
    offset: int
    chunks: int
    size: int

    def reference(self) -> dict[str, Any]:
        """The JSON form an envelope carries."""
        return {"job_id": self.job_id, "partition": self.partition, "offset": self.offset, "chunks": self.chunks,
                "size": self.size}

    @classmethod
    def of(cls, reference: Any) -> "DataChunks":
        """The chunks a :meth:`reference` names; InvalidReference if it is not one."""
        try:
            return cls(str(reference["job_id"]), *(int(reference[k]) for k in ("partition", "offset", "chunks",
                                                                               "size")))
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidReference(f"'data' is not a reference to a job's data chunks: {err!r}") from None


class WriteRows:
    """A WRITE_BATCH payload: per row, its encoded key (:func:`pipeline.codec.encode_key`) and its bytes
    (:class:`pipeline.codec.RowBytes`), so that the shard neither encodes the key again nor decodes a row it
    only stores.

    Built a row at a time with :meth:`add`, read back with :meth:`unpack`. The
    payload is :data:`MARK`, the number of rows, the lengths of their keys,
    heads and tails (little-endian 32-bit), a byte per row for ``exact``, and
    the bytes; its reading slices at C speed, with no Python per row. A payload
    without the mark is a JSON array of records, as older workers wrote to
    ``shard-log``.
    """

    MARK = b"\x02"
    _COUNT = struct.Struct("<I")

    def __init__(self, names: list[str] | None = None) -> None:
        self.count = 0
        self.size = 0  # bytes of the rows and keys
        #: the names every row added has (:attr:`ShardCommand.names`), as :meth:`expect` was told; None: unknown
        self.names = names
        self._lengths = array.array("I")  # of the key, head and tail of each row
        self._exact = bytearray()
        self._parts: list[bytes] = []  # the keys, heads and tails, or runs of them packed already

    def expect(self, names: list[str] | None) -> None:
        """The rows added from now on have the members ``names`` (None: not known)."""
        if not self.count:
            self.names = names
        elif self.names != names:
            self.names = None

    def add(self, key: bytes, row: codec.RowBytes, size: int) -> None:
        """One row; ``size``: its bytes (head and tail)."""
        self._parts += key, row[0], row[1]
        self._lengths.extend((len(key), len(row[0]), len(row[1])))
        self._exact.append(row[2])
        self.count += 1
        self.size += size + len(key)

    def extend(self, count: int, lengths: bytes, exact: bytes, data: bytes) -> None:
        """``count`` rows packed already: their lengths (native unsigned 32-bit, three a row), exact flags
        and bytes, as :mod:`pipeline.parsing.block` packs a shard's rows."""
        self._lengths.frombytes(lengths)
        self._exact += exact
        self._parts.append(data)
        self.count += count
        self.size += len(data)

    def payload(self) -> bytes:
        lengths = self._lengths
        if sys.byteorder == "big":
            lengths = array.array("I", lengths)
            lengths.byteswap()
        return b"".join((self.MARK, self._COUNT.pack(self.count), lengths.tobytes(), self._exact, *self._parts))

    @classmethod
    def of(cls, records: Iterable[dict[str, Any]], primary_key: str) -> codec.KeyedRows:
        """Records (their keys normalized) as the rows of a write."""
        return codec.KeyedRows.of((codec.encode_key(record[primary_key]), codec.row_bytes(record, primary_key))
                                  for record in records)

    @classmethod
    def unpack(cls, payload: bytes, primary_key: str) -> codec.KeyedRows:
        """The rows of a payload, in order."""
        if payload[:1] != cls.MARK:
            return cls.of(codec.loads(payload), primary_key)
        (count,) = cls._COUNT.unpack_from(payload, 1)
        start = 1 + cls._COUNT.size
        lengths = array.array("I")
        lengths.frombytes(payload[start:start + 12 * count])
        if sys.byteorder == "big":
            lengths.byteswap()
        start += 12 * count
        # the pieces cut in one call, by a format of their lengths ("<9s40s61s..."): no slice object per piece
        pieces = struct.unpack_from("<" + "s".join(map(str, lengths)) + "s", payload, start + count) if count else ()
        return codec.KeyedRows(list(pieces[0::3]), list(pieces[1::3]), list(pieces[2::3]),
                               payload[start:start + count])
