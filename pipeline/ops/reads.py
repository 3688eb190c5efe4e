"""The reads answered synchronously: the searches (NoSQL and SQL) and the describes with their record counts.

Every read is a scan per table it reads, scattered to the shards through
``shard-log`` (so it sees every write before it) and gathered back in key
order (:mod:`pipeline.query.gather`); the plan finishes the gathered rows.
"""
from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable

from ..auth.directory import Principal
from ..auth.policy import Authorizer
from ..catalog import TableDef
from ..contract.answers import describe_table_answer
from ..contract.validate_catalog import validate_describe_database, validate_describe_table
from ..query.gather import Scanner, Spill
from ..query.planner import plan
from .rowstream import RowStream
from .tables import Tables


class Reads:
    def __init__(self, tables: Tables, authorizer: Authorizer, scanner: Scanner, duckdb_memory: str,
                 workdir: Path) -> None:
        """``workdir``: where a search's rows wait on disk until they are finished."""
        self.catalog = tables.catalog
        self.workdir = workdir
        self.authorizer = authorizer
        self.scanner = scanner
        self.duckdb_memory = duckdb_memory
        self.handlers: dict[str, Callable[[dict, Principal | None], Any]] = {
            "search_by_hash": self.search, "search_by_id": self.search, "search_by_value": self.search,
            "search_by_conditions": self.search,
            "describe_table": self.describe_table, "describe_all": self.describe_all,
            "describe_database": self.describe_database, "describe_schema": self.describe_database,
        }

    async def search(self, op: dict, principal: Principal | None) -> RowStream:
        """A search answered synchronously: scatter a scan per table read, finish over the gathered rows.

        The rows wait on disk, not in memory (a ``SELECT COUNT(*)`` of a large table once held every row of
        it here), and are finished and encoded in a thread as the answer is sent (:mod:`pipeline.ops.rowstream`).
        """
        planned = plan(op, self.catalog, self.duckdb_memory,
                       lambda table: self.authorizer.readable(principal, table))
        workdir = self.workdir / f"search-{uuid.uuid4()}"
        spills = [Spill(workdir / f"scan-{i}", self.scanner.shards) for i in range(len(planned.scans))]

        def release() -> None:
            for spill in spills:
                spill.close()
            shutil.rmtree(workdir, ignore_errors=True)
        try:
            counts = await asyncio.gather(*(self.scanner.scan(spec, sink) for spec, sink in zip(planned.scans, spills)))
        except BaseException:
            release()
            raise
        return RowStream(planned.answer([s.rows() for s in spills], list(counts)), release)

    async def _describe(self, table: TableDef, principal: Principal | None) -> dict:
        spec = {"database": table.database, "table": table.name, "keys": None, "conditions": None,
                "count_only": True}
        access = self.authorizer.describe_filter(principal, table)
        shown = [a for a in table.attributes if access is None or access.attribute_visible(a)]
        return describe_table_answer(table, await self.scanner.scan(spec, None), shown)

    def _visible(self, database: str, principal: Principal | None) -> list[TableDef]:
        return [t for t in self.catalog.tables(database) if self.authorizer.describe_filter(principal, t)]

    async def describe_table(self, op: dict, principal: Principal | None) -> dict:
        return await self._describe(validate_describe_table(op, self.catalog), principal)

    async def describe_database(self, op: dict, principal: Principal | None) -> dict:
        database = validate_describe_database(op, self.catalog)
        return {t.name: await self._describe(t, principal) for t in self._visible(database, principal)}

    async def describe_all(self, op: dict, principal: Principal | None) -> dict:
        # the system database is not part of describe_all, as in Harper (describe_database shows it)
        visible = {db: self._visible(db, principal) for db in self.catalog.databases(views=False)}
        everything = principal is None or principal.super_user
        return {db: {t.name: await self._describe(t, principal) for t in tables}
                for db, tables in visible.items() if tables or everything}
