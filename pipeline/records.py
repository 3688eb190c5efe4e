"""Typed records for what crosses the Avro topics, and their codec: the one place such a record is built.

- :class:`ShardCommand` on ``shard-log``: one command of a table shard's ordered log;
- :class:`JobEvent` on ``job-status``: one state change or progress report of a job (the ``JobStatus``
  schema);
- :class:`ShardReply` on ``export-results``: a shard's reply to the request that sent it a command (the
  ``ExportResult`` schema): the rows of a scan, or the keys a write applied;
- :class:`DataChunks`, in a job's envelope on ``operations`` (JSON): where a large csv_data_load's data is
  on ``operation-data``.

Each is written with fastavro's schemaless writer, so a consumer outside this
project decodes it with the ``.avsc`` file alone
(``fastavro.schemaless_reader(buf, parse_schema(avsc))``, see
:mod:`pipeline.schemas`). A field added to a schema is added here, with the
schema's default.
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import fastavro

from . import schemas
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
        return cls(**fastavro.schemaless_reader(io.BytesIO(data), schemas.avro(cls.TOPIC)))


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
    #: JSON: the records (WRITE_BATCH), the keys (DELETE_KEYS), the scan spec (SCAN), the attribute
    #: (DROP_ATTRIBUTE), the statement (SQL_UPDATE, SQL_DELETE: query.dml.DmlSpec); the log's name (EPOCH)
    payload: bytes = b""
    #: DELETE_BEFORE: delete the records created before this epoch ms
    before: float | None = None
    #: set by a synchronous write: the shard replies with the keys it wrote and skipped
    reply: str | None = None

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
