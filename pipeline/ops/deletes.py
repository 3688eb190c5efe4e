"""delete_records_before (and its alias delete_files_before): a DeleteBefore command to every shard;
delete_audit_logs_before, which has nothing to delete (the tables keep no audit log)."""
from __future__ import annotations

from ..contract.answers import no_audit_log_message
from ..contract.dates import parse_iso_date
from ..jobs.events import COMPLETE, emit, event, split_done
from ..kafka.bus import Bus
from ..records import ShardCommand
from .tables import Tables


class Deletes:
    def __init__(self, bus: Bus, tables: Tables, shards: int) -> None:
        self.bus = bus
        self.tables = tables
        self.shards = shards

    async def run(self, job_id: str, op: dict) -> None:
        """A DeleteBefore command to every shard, ordered after the writes before it."""
        table = self.tables.table(op)
        before = parse_iso_date(op["date"])
        await self.bus.broadcast(ShardCommand("DELETE_BEFORE", job_id, table.database, table.name, before=before),
                                 self.shards)
        await emit(self.bus, split_done(job_id, 0, [1] * self.shards))

    async def run_audit(self, job_id: str, op: dict) -> None:
        """delete_audit_logs_before: the table must exist; there is no audit log to delete."""
        table = self.tables.table(op)
        await emit(self.bus, event(job_id, "COMPLETE", COMPLETE,
                                   message=no_audit_log_message(table.database, table.name)))
