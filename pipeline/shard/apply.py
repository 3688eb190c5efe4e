"""Applying one ``shard-log`` command to a shard store: what the writer does live and a replay does silently."""
from __future__ import annotations

import logging

from .. import codec
from ..records import ShardCommand
from .store import Result, Store

log = logging.getLogger(__name__)


def apply_to_store(store: Store, offset: int, command: ShardCommand) -> Result | None:
    kind = command.kind
    database, table = command.database, command.table
    if kind in ("WRITE_BATCH", "DELETE_KEYS"):
        job = (command.job_id, command.seq)
        if command.seq < store.next_seq(command.job_id):
            store.skip(offset)  # re-sent by a resumed load; the first copy was applied and reported
            return None
        if kind == "DELETE_KEYS":
            return store.delete_keys(offset, database, table, codec.loads(command.payload), job=job)
        return store.write_batch(offset, database, table, command.primary_key, command.action,
                                 codec.loads(command.payload), command.txn_time, keep_keys=bool(command.reply),
                                 job=job)
    if kind == "DELETE_BEFORE":
        return store.delete_before(offset, database, table, command.before)
    if kind == "DROP_TABLE":
        store.drop_table(offset, database, table)
        return None
    if kind == "DROP_ATTRIBUTE":
        store.drop_attribute(offset, database, table, codec.loads(command.payload))
        return None
    log.warning("unknown shard command", extra={"kind": kind, "job_id": command.job_id})
    store.skip(offset)
    return None

