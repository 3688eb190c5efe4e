"""delete_records_before (and its alias delete_files_before): a DeleteBefore command to every shard."""
from __future__ import annotations

from ..contract.dates import parse_iso_date
from ..jobs.events import emit, split_done
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
