"""csv_data_load's source: the CSV text carried in the operation, or, when it is too large for that, chunks
on ``operation-data``.

The API spools a large body to disk (:mod:`pipeline.request_body`) and
leaves the ``data`` string there (:class:`SpooledData`). When the job is
submitted, the data is decoded block by block and produced as chunks of at
most :data:`DATA_BLOCK` bytes to ``operation-data``, keyed by the job id, each
with its sequence number in a ``seq`` header, before the job exists; the
operation then carries only where they are (:class:`pipeline.records.DataChunks`).
Whichever worker runs the job, now or when it resumes the job after its first
worker died, reads them back in order as the CSV reader's stream
(:class:`ChunkedDataSource`). A chunk that is missing (the topic's retention
passed) ends the job in ERROR saying so.
"""
from __future__ import annotations

import asyncio
import contextlib
import io
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import orjson

from ..contract.errors import INVALID_JSON
from ..kafka.bus import Bus
from ..kafka.consumers import assigned_consumer
from ..records import DataChunks, DataStream
from .base import Position, SourcePartition
from .csv import MAX_RECORD_BYTES
from .exceptions import DataError
from .pipe import Pipe, piped

TOPIC = "operation-data"
#: raw bytes of a spooled ``data`` string decoded at a time (a chunk is never larger once decoded)
DATA_BLOCK = 512 * 1024
#: chunks produced and not yet acknowledged
IN_FLIGHT = 8
#: seconds without a chunk before reading them back fails
IDLE_TIMEOUT = 30.0


class DataSource(SourcePartition):
    def __init__(self, text: str, batch_size: int, resume: Position | None = None,
                 max_record_bytes: int = MAX_RECORD_BYTES) -> None:
        super().__init__(batch_size, resume, max_record_bytes)
        self.text = text

    async def open_stream(self, stack: contextlib.AsyncExitStack) -> BinaryIO:
        return io.BytesIO(self.text.encode())


class ChunkedDataSource(SourcePartition):
    """The data of a large csv_data_load, read back from its chunks on ``operation-data``."""

    def __init__(self, data: DataChunks, bus: Bus, batch_size: int, resume: Position | None = None,
                 max_record_bytes: int = MAX_RECORD_BYTES) -> None:
        super().__init__(batch_size, resume, max_record_bytes)
        self.data = data
        self.bus = bus

    async def open_stream(self, stack: contextlib.AsyncExitStack) -> BinaryIO:
        return await piped(stack, lambda pipe: read_chunks(self.bus, self.data, pipe))


@dataclass(frozen=True)
class SpooledData(DataStream):
    """csv_data_load's ``data``, left in the spooled body: bytes ``[start, end)`` of ``path`` are the JSON
    string's contents (escapes and all)."""

    path: Path
    start: int
    end: int

    def blocks(self) -> Iterator[bytes]:
        """The data, decoded, in blocks of at most :data:`DATA_BLOCK` bytes of UTF-8; DataError (Harper's
        "Invalid JSON.") at a bad escape or a raw control character, as a whole-body parse would say."""
        with open(self.path, "rb") as source:
            source.seek(self.start)
            left, pending = self.end - self.start, b""
            while left or pending:
                raw = source.read(min(DATA_BLOCK, left)) if left else b""
                if left and not raw:
                    raise DataError(INVALID_JSON().message)  # the spooled body is shorter than it was
                left -= len(raw)
                piece = pending + raw
                cut = _safe_cut(piece) if left else len(piece)
                piece, pending = piece[:cut], piece[cut:]
                if not piece:
                    continue
                try:
                    yield orjson.loads(b'"' + piece + b'"').encode()
                except orjson.JSONDecodeError:
                    raise DataError(INVALID_JSON().message) from None


def _safe_cut(raw: bytes) -> int:
    """Where ``raw`` (part of a JSON string's contents) can be cut so that both parts decode on their own:
    not inside an escape, not between the halves of a surrogate pair, not inside a UTF-8 character."""
    n = len(raw)
    i = max(0, n - 16)  # an unfinished escape (a surrogate pair is 12 bytes) can only be in the last few
    while i > 0 and raw[i - 1] == 0x5C:  # start outside a run of backslashes, whose pairing decides
        i -= 1
    while i < n:
        if raw[i] != 0x5C:
            i += 1
            continue
        if i + 1 >= n or (raw[i + 1] == 0x75 and i + 6 > n):  # "\" or "\u12" at the end
            return i
        if raw[i + 1] == 0x75 and raw[i + 2:i + 4].lower() in (b"d8", b"d9", b"da", b"db") and i + 12 > n:
            return i  # a high surrogate whose low half is not all here
        i += 6 if raw[i + 1] == 0x75 else 2
    if n and raw[n - 1] >= 0x80:  # cut before the last character, which may be unfinished
        n -= 1
        while n > 0 and raw[n] & 0xC0 == 0x80:
            n -= 1
    return n


async def publish_chunks(bus: Bus, job_id: str, data: SpooledData) -> DataChunks:
    """Produce ``data`` as chunks keyed by ``job_id``; DataError (Invalid JSON) if it does not decode."""
    blocks = data.blocks()
    in_flight: deque[asyncio.Future] = deque()
    first = None
    chunks = size = 0
    while (chunk := await asyncio.to_thread(next, blocks, None)) is not None:
        in_flight.append(await bus.send(TOPIC, chunk, key=job_id.encode(), headers=[("seq", str(chunks).encode())]))
        chunks += 1
        size += len(chunk)
        if first is None:
            first = await in_flight[0]  # where the chunks start
        while len(in_flight) > IN_FLIGHT:
            await in_flight.popleft()
    for delivery in in_flight:
        await delivery
    if first is None:  # an empty string: one empty chunk, so the job has a place to read it from
        first = await (await bus.send(TOPIC, b"", key=job_id.encode(), headers=[("seq", b"0")]))
        chunks = 1
    return DataChunks(job_id, first.partition, first.offset, chunks, size)


async def read_chunks(bus: Bus, data: DataChunks, pipe: Pipe) -> None:
    """Feed the job's chunks, in order, into ``pipe``; any failure is handed to the pipe's reader."""
    consumer = None
    key = data.job_id.encode()
    try:
        # fetches of a few chunks: the consumer's buffer stays small; a log that no longer starts at the first
        # chunk (retention passed) is read from its start, where the chunk found says what is missing
        consumer, [tp] = await assigned_consumer(bus, TOPIC, data.offset, [data.partition],
                                                 auto_offset_reset="earliest",
                                                 max_partition_fetch_bytes=4 * DATA_BLOCK,
                                                 fetch_max_bytes=4 * DATA_BLOCK)
        expected = 0
        while expected < data.chunks:
            batch = await consumer.getmany(tp, timeout_ms=int(IDLE_TIMEOUT * 1000), max_records=4)
            messages = batch.get(tp, [])
            if not messages:
                raise DataError(_lost(data, f"no chunk came for {IDLE_TIMEOUT:.0f} s"))
            for message in messages:
                if message.key != key:
                    continue  # another job's chunks, produced at the same time
                seq = int(dict(message.headers).get("seq", b"-1"))
                if seq != expected:
                    raise DataError(_lost(data, f"chunk {expected} is missing (found chunk {seq})"))
                expected += 1
                await pipe.feed(message.value or b"")
                if pipe.closed_by_reader or expected == data.chunks:
                    break
            if pipe.closed_by_reader:
                return
        await pipe.end()
    except DataError as err:
        await pipe.fail(err)
    except Exception as err:  # noqa: BLE001 - the reader must hear of any failure, not wait
        await pipe.fail(DataError(_lost(data, str(err))))
    finally:
        if consumer is not None:
            await consumer.stop()


def _lost(data: DataChunks, why: str) -> str:
    return (f"the data of this csv_data_load could not be read back from topic {TOPIC} (partition "
            f"{data.partition}, from offset {data.offset}): {why}")
