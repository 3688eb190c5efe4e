"""The catalog operations: create and drop databases, tables and attributes.

A catalog change is a record on the compacted ``catalog`` topic (acks=all),
folded at once into the worker that made it and, from the topic, into every
other. A drop also goes to every shard through ``shard-log``, so it is
ordered after the writes before it (and before the reads and writes after it).
"""
from __future__ import annotations

from typing import Any, Callable

from .. import codec
from ..auth.directory import Principal
from ..contract.answers import (created_attribute_message, created_database_message, created_table_message,
                                dropped_attribute_message, dropped_database_message, dropped_table_message)
from ..contract.validate_catalog import (validate_create_attribute, validate_create_database, validate_create_table,
                                         validate_drop_attribute, validate_drop_database, validate_drop_table)
from ..jobs.events import now_ms
from ..kafka.bus import Bus
from ..records import ShardCommand
from .tables import Tables


class CatalogOperations:
    def __init__(self, tables: Tables, bus: Bus, shards: int) -> None:
        self.tables = tables
        self.catalog = tables.catalog
        self.bus = bus
        self.shards = shards
        self.handlers: dict[str, Callable[[dict, Principal | None], Any]] = {
            "create_database": self.create_database, "create_schema": self.create_database,
            "create_table": self.create_table, "drop_table": self.drop_table,
            "drop_database": self.drop_database, "drop_schema": self.drop_database,
            "create_attribute": self.create_attribute, "drop_attribute": self.drop_attribute,
        }

    async def create_database(self, op: dict, principal: Principal | None) -> dict:
        database = validate_create_database(op, self.catalog)
        await self.tables.log.put(*self.catalog.database_record(database, now_ms()))
        return {"message": created_database_message(database)}

    async def create_table(self, op: dict, principal: Principal | None) -> dict:
        database, table, primary_key = validate_create_table(op, self.catalog)
        now = now_ms()
        if not self.catalog.has_database(database):
            await self.tables.log.put(*self.catalog.database_record(database, now))
        await self.tables.log.put(*self.catalog.table_record(database, table, primary_key, now))
        return {"message": created_table_message(database, table)}

    async def drop_table(self, op: dict, principal: Principal | None) -> dict:
        database, table = validate_drop_table(op, self.catalog)
        await self._drop(database, table)
        return {"message": dropped_table_message(database, table)}

    async def drop_database(self, op: dict, principal: Principal | None) -> dict:
        database = validate_drop_database(op, self.catalog)
        for table in self.catalog.tables(database):
            await self._drop(database, table.name)
        for key in self.catalog.drop_database_keys(database):
            await self.tables.log.put(key, None)
        return {"message": dropped_database_message(database)}

    async def create_attribute(self, op: dict, principal: Principal | None) -> dict:
        table, attribute = validate_create_attribute(op, self.catalog)
        await self.tables.register_attributes(table, {attribute})
        return {"message": created_attribute_message(table.database, table.name, attribute)}

    async def drop_attribute(self, op: dict, principal: Principal | None) -> dict:
        """Remove the attribute from every record (on every shard, in log order), then from the catalog.

        An attribute the table does not have is "deleted" all the same, as in Harper.
        """
        table, attribute = validate_drop_attribute(op, self.catalog)
        if attribute in table.attributes:
            await self.bus.broadcast(ShardCommand("DROP_ATTRIBUTE", "", table.database, table.name,
                                                  payload=codec.dumps(attribute)), self.shards)
            await self.tables.log.put(self.catalog.attribute_key(table.database, table.name, attribute), None)
        return {"message": dropped_attribute_message(attribute)}

    async def _drop(self, database: str, table: str) -> None:
        """Drop the records on every shard (ordered after the writes before it), then the definition."""
        await self.bus.broadcast(ShardCommand("DROP_TABLE", "", database, table), self.shards)
        for key in self.catalog.drop_table_keys(database, table):
            await self.tables.log.put(key, None)
