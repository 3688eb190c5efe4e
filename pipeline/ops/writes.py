"""The record writes answered synchronously: insert, update, upsert and delete.

A write goes through the splitter to the shards that hold its keys, like a
load, but under a request id of its own rather than a job: each shard
replies to each of its commands on ``export-results`` with the keys it wrote
and skipped (:mod:`pipeline.kafka.replies`), and the write is answered once
every command has been applied, with Harper's per-key answer in the order of
the request. A command delivered to a shard again replies again with the
result it stored the first time; the reply is counted once.

SQL's INSERT is an insert of the records its VALUES make; its UPDATE and
DELETE are one command to every shard, which chooses and changes its rows
itself when it applies the command (:mod:`pipeline.query.dml`).
"""
from __future__ import annotations

import asyncio
import uuid
from typing import Any, Callable

from .. import codec
from ..auth.directory import Principal
from sqlglot import exp

from ..contract.answers import delete_answer, write_answer
from ..contract.validate_records import validate_write
from ..kafka.bus import Bus
from ..kafka.replies import Replies
from ..query.dml import Change, plan_dml
from ..query.plan import order_key
from ..records import ShardCommand, ShardReply
from ..shard.splitter import Splitter
from .tables import Tables

#: seconds a write waits for the shards to apply it
WRITE_TIMEOUT = 120


class Writes:
    def __init__(self, tables: Tables, bus: Bus, replies: Replies, shards: int, batch_size: int,
                 max_record_bytes: int) -> None:
        self.tables = tables
        self.bus = bus
        self.replies = replies
        self.shards = shards
        self.batch_size = batch_size
        self.max_record_bytes = max_record_bytes
        self.handlers: dict[str, Callable[[dict, Principal | None], Any]] = {
            "insert": self.write, "update": self.write, "upsert": self.write, "delete": self.write}

    async def write(self, op: dict, principal: Principal | None) -> dict:
        """insert / update / upsert / delete: through the shards, answered when every shard has applied."""
        op = validate_write(op, self.tables.catalog)
        table = self.tables.table(op)
        action = op["operation"]
        request_id = str(uuid.uuid4())
        replies = self.replies.open(request_id)
        try:
            splitter = Splitter(self.bus, request_id, table, action, self.shards, self.batch_size,
                                self.max_record_bytes, reply_partition=self.replies.partition)
            if action == "delete":
                keys = list(op["hash_values"])
                await splitter.add_keys(keys)
            else:
                records = [dict(r) for r in op["records"]]
                await self.tables.register_attributes(table, set().union(*records) if records else set())
                await splitter.add(records)  # gives keyless records their generated keys
                keys = [r[table.primary_key] for r in records]
            commands = await splitter.finish()
            written, skipped = await asyncio.wait_for(applied(replies, commands), WRITE_TIMEOUT)
        finally:
            self.replies.close(request_id)
        # the shards answer in any order; Harper lists keys in the order of the request
        position = {codec.encode_key(codec.normalize_key(k)): i for i, k in reversed(list(enumerate(keys)))}
        written, skipped = (sorted(found, key=lambda k: position[codec.encode_key(codec.normalize_key(k))])
                            for found in (written, skipped))
        if action == "delete":
            return delete_answer(written, skipped)
        return write_answer(action, written, skipped)


    async def sql(self, statement: exp.Expression, principal: Principal | None) -> dict:
        """An SQL INSERT, UPDATE or DELETE (already parsed and permitted)."""
        planned = plan_dml(statement, self.tables.catalog)
        table = planned.table
        if not isinstance(planned, Change):
            return await self.write({"operation": "insert", "database": table.database, "table": table.name,
                                     "records": planned.records}, principal)
        spec = planned.spec
        if spec.action == "update":
            await self.tables.register_attributes(table, set(spec.assignments))
        request_id = str(uuid.uuid4())
        replies = self.replies.open(request_id)
        try:
            kind = "SQL_UPDATE" if spec.action == "update" else "SQL_DELETE"
            await self.bus.broadcast(ShardCommand(kind, request_id, table.database, table.name,
                                                  primary_key=table.primary_key, payload=spec.to_json(),
                                                  reply=request_id, reply_partition=self.replies.partition),
                                     self.shards)
            written, skipped = await asyncio.wait_for(applied(replies, [1] * self.shards), WRITE_TIMEOUT)
        finally:
            self.replies.close(request_id)
        written, skipped = sorted(written, key=order_key), sorted(skipped, key=order_key)
        if spec.action == "delete":
            return delete_answer(written, skipped)
        return write_answer("update", written, skipped)


async def applied(replies: asyncio.Queue[ShardReply], commands: list[int]) -> tuple[list, list]:
    """The keys the shards wrote and skipped, once each shard has replied to every command it was sent
    (``commands[shard]`` of them); a reply delivered again counts once."""
    pending = {(shard, seq) for shard, count in enumerate(commands) for seq in range(count)}
    written: list = []
    skipped: list = []
    while pending:
        reply = await replies.get()
        if reply.kind != "APPLIED" or (reply.shard, reply.seq) not in pending:
            continue
        pending.discard((reply.shard, reply.seq))
        keys_written, keys_skipped = codec.loads(reply.rows)
        written += keys_written
        skipped += keys_skipped
    return written, skipped
