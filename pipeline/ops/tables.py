"""The catalog as the operations use it: the table an operation names, and the attributes a write brings."""
from __future__ import annotations

from ..catalog import Catalog, TableDef
from ..contract.answers import table_missing, too_many_attributes
from ..contract.errors import HarperError
from ..jobs.events import now_ms
from ..kafka.logview import LogView


class Tables:
    """The worker's catalog view and the ``catalog`` topic behind it."""

    def __init__(self, catalog: Catalog, catalog_log: LogView, max_attributes: int) -> None:
        """``max_attributes``: the most attributes a table may have (PIPELINE_MAX_ATTRIBUTES)."""
        self.catalog = catalog
        self.log = catalog_log
        self.max_attributes = max_attributes

    async def catch_up(self) -> None:
        """See catalog changes made through any worker before acting on the catalog."""
        await self.log.catch_up()

    def table(self, op: dict) -> TableDef:
        """The table of a validated operation (``database`` resolved); a 400 if it was dropped meanwhile."""
        table = self.catalog.table(op["database"], op["table"])
        if table is None:
            raise HarperError(table_missing(op["database"], op["table"]))
        return table

    async def register_attributes(self, table: TableDef, names: set[str]) -> None:
        """Record the attributes a write brings that the table has not seen before, all at once; refused
        beyond the attribute limit."""
        records = self.catalog.new_attribute_records(table, sorted(names), now_ms())
        count = len(table.attributes) + len(records)
        if count > self.max_attributes:
            raise HarperError(too_many_attributes(table.qualified, count, self.max_attributes))
        await self.log.put_many(records)
