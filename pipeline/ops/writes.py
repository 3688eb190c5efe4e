"""The record writes answered synchronously: insert, update, upsert and delete.

A write goes through the splitter to the shards that hold its keys, like a
load, and is answered once every shard has applied its part, with Harper's
per-key answer in the order of the request.
"""
from __future__ import annotations

import uuid
from typing import Any, Callable

from .. import codec
from ..auth.directory import Principal
from ..contract.answers import delete_answer, write_answer
from ..contract.validate_records import validate_write
from ..jobs.events import emit, event, split_done
from ..jobs.view import JobsView
from ..kafka.bus import Bus
from ..kafka.logview import LogView
from ..shard.splitter import Splitter
from .tables import Tables


class Writes:
    def __init__(self, tables: Tables, bus: Bus, shards: int, batch_size: int, jobs: JobsView,
                 jobs_log: LogView) -> None:
        self.tables = tables
        self.bus = bus
        self.shards = shards
        self.batch_size = batch_size
        self.jobs = jobs
        self.jobs_log = jobs_log
        self.handlers: dict[str, Callable[[dict, Principal | None], Any]] = {
            "insert": self.write, "update": self.write, "upsert": self.write, "delete": self.write}

    async def write(self, op: dict, principal: Principal | None) -> dict:
        """insert / update / upsert / delete: through the shards, answered when every shard has applied."""
        op = validate_write(op, self.tables.catalog)
        table = self.tables.table(op)
        action = op["operation"]
        job_id = str(uuid.uuid4())
        await emit(self.bus, event(job_id, "CREATED", type=action, user=principal.username if principal else None))
        splitter = Splitter(self.bus, job_id, table, action, self.shards, self.batch_size, keep_keys=True)
        if action == "delete":
            keys = list(op["hash_values"])
            await splitter.add_keys(keys)
        else:
            records = [dict(r) for r in op["records"]]
            await self.tables.register_attributes(table, set().union(*records) if records else set())
            await splitter.add(records)  # gives keyless records their generated keys
            keys = [r[table.primary_key] for r in records]
        commands = await splitter.finish()
        await emit(self.bus, split_done(job_id, splitter.parsed, commands))
        record = await self.jobs_log.wait_for(self.jobs.final(job_id), timeout=120)
        await self.jobs_log.put(job_id, None)
        # the shards answer in any order; Harper lists keys in the order of the request
        position = {codec.encode_key(codec.normalize_key(k)): i for i, k in reversed(list(enumerate(keys)))}
        detail = record.get("_detail") or {"written": [], "skipped": []}
        written, skipped = (sorted(detail[name], key=lambda k: position[codec.encode_key(codec.normalize_key(k))])
                            for name in ("written", "skipped"))
        if action == "delete":
            return delete_answer(written, skipped)
        return write_answer(action, written, skipped)
