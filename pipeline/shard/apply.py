"""Applying one ``shard-log`` command to a shard store: what the writer does live and a replay does silently."""
from __future__ import annotations

import logging

from .. import codec
from ..query.dml import DmlSpec, applier
from ..query.functions.dates import clock
from ..records import ShardCommand, WriteRows
from .store import Result, Store

log = logging.getLogger(__name__)


def apply_to_store(store: Store, offset: int, command: ShardCommand) -> Result | None:
    kind = command.kind
    database, table = command.database, command.table
    if kind in ("WRITE_BATCH", "DELETE_KEYS"):
        job = (command.job_id, command.seq)
        if command.seq < store.next_seq(command.job_id):
            # re-sent by a resumed load: the first copy was applied; its report is sent again (the tracker
            # counts a command once), since after the broker lost its log the first report may be gone
            store.skip(offset)
            return store.applied_result(command.job_id, command.seq)
        if kind == "DELETE_KEYS":
            return store.delete_keys(offset, database, table, codec.loads(command.payload), job=job)
        return store.write_batch(offset, database, table, command.primary_key, command.action,
                                 WriteRows.unpack(command.payload, command.primary_key), command.txn_time,
                                 keep_keys=bool(command.reply), job=job, names=command.names)
    if kind in ("SQL_UPDATE", "SQL_DELETE"):
        return _apply_dml(store, offset, command)
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



def _apply_dml(store: Store, offset: int, command: ShardCommand) -> Result:
    """An SQL UPDATE/DELETE on this shard's current rows, in one write with its result.

    NOW() and its kin read the command's time, so a replay of the log writes the same values.
    """
    database, table, key = command.database, command.table, command.primary_key
    token = clock.set(int(command.txn_time))
    try:
        changes = applier(DmlSpec.from_json(command.payload), key)(row for _, row in store.scan(database, table))
    except Exception:  # an expression that fails on some row: nothing of the statement is applied here
        log.exception("SQL statement failed on a shard", extra={"table": f"{database}.{table}"})
        changes = []
    finally:
        clock.reset(token)
    if command.kind == "SQL_DELETE":
        return store.delete_keys(offset, database, table, [c[key] for c in changes])
    return store.write_batch(offset, database, table, key, "update", WriteRows.of(changes, key), command.txn_time,
                             keep_keys=True)
