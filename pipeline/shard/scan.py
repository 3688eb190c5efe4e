"""The shard side of a scan: the rows of one shard that a scan asks for, streamed to ``export-results``.

A scan travels ``shard-log`` like every write, so it sees exactly the writes
that were in the log before it. The shard streams its matching rows, in key
order, under the scan's id; the requester (:mod:`pipeline.query.gather`)
merges the shards' streams by key.
"""
from __future__ import annotations

import logging
from typing import Any, Iterator

from .. import codec
from ..config import MAX_MESSAGE_BYTES
from ..kafka.bus import Bus
from ..query.gather import row_line
from ..query.plan import Projection
from ..query.predicate import Predicate
from ..records import ShardReply
from .store import Store

log = logging.getLogger(__name__)

#: rows per ExportResult message, and the bytes of rows after which a message is sent even if it holds fewer
ROWS_PER_MESSAGE = 1000
BYTES_PER_MESSAGE = MAX_MESSAGE_BYTES // 4


def matching_rows(store: Store, spec: dict[str, Any],
                  predicate: Predicate | None) -> Iterator[tuple[bytes, bytes]]:
    """The rows of one shard that a scan asks for, in key order, as stored (decoded only to be filtered), or
    projected on the scan's ``attributes`` if it names them (a row stored with exactly those passes as stored).

    Where the store knows that every row of the table has exactly those
    attributes in their order (:meth:`Store.shared_names`: an export of ``*``
    of a table loaded from one CSV header), no row is decoded to be projected.
    """
    database, table = spec["database"], spec["table"]
    if spec.get("keys") is not None:
        rows = store.get_many_raw(database, table, spec["keys"])
    else:
        rows = store.scan_raw(database, table)
    names = spec.get("attributes")
    project = None if names is None or names == store.shared_names(database, table) else Projection(names)
    if predicate is None and project is None:
        yield from rows
        return
    for key, raw in rows:
        row = codec.loads(raw)
        if predicate is None or predicate(row):
            yield key, raw if project is None else project(raw, row)


async def stream_rows(bus: Bus, scan_id: str, shard: int, rows: Iterator[tuple[bytes, bytes]],
                      count_only: bool = False, partition: int | None = None) -> int:
    """Send one shard's rows for a scan (only their number with ``count_only``), then DONE, to the requester's
    ``partition`` of ``export-results`` (None: the scan id's); returns the count.

    A ROWS message carries lines of ``<hex key>\\t<row JSON>``: the stored bytes pass
    through to the sink without being decoded and encoded again.
    """
    seq = count = size = 0
    chunk: list[bytes] = []
    key = scan_id.encode()

    async def send(kind: str, payload: bytes, n: int, message: str | None = None) -> None:
        nonlocal seq
        await bus.send_record(ShardReply(scan_id, shard, kind, seq, payload, n, message), key=key,
                              partition=partition)
        seq += 1

    try:
        for encoded_key, raw in rows:
            if count_only:
                count += 1
                continue
            line = row_line(encoded_key, raw)
            if chunk and size + len(line) > BYTES_PER_MESSAGE:  # large rows: fewer per message
                count += len(chunk)
                await send("ROWS", b"".join(chunk), len(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
            if len(chunk) >= ROWS_PER_MESSAGE:
                count += len(chunk)
                await send("ROWS", b"".join(chunk), len(chunk))
                chunk, size = [], 0
    except Exception as err:  # noqa: BLE001 - the requester must hear about it, not wait forever
        log.exception("scan failed", extra={"scan_id": scan_id, "shard": shard})
        await send("ERROR", b"", count, f"shard {shard}: {err}")
        return count
    if chunk:
        count += len(chunk)
        await send("ROWS", b"".join(chunk), len(chunk))
    await send("DONE", b"", count)
    return count
