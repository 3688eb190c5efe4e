"""Which planner answers a search operation: the NoSQL searches, or SQL.

The one entry point for a search's plan (synchronous searches and exports
alike); each planner validates its request with Harper's rules first.
"""
from __future__ import annotations

from typing import Any, Callable

from ..catalog import Catalog, TableDef
from ..contract.errors import operation_not_found
from ..contract.validate_search import validate_search_by_conditions, validate_search_by_hash, validate_search_by_value
from ..contract.validate_sql import validate_sql
from .nosql import by_conditions, by_hash, by_value
from .plan import Plan
from .sql import plan_sql


def plan(op: dict[str, Any], catalog: Catalog, duckdb_memory: str = "48MB",
         readable: Callable[[TableDef], list[str] | None] | None = None) -> Plan:
    """How to answer a search: the scans to scatter, and how to finish their rows.

    ``readable``: the attributes of a table the requester may read (None: all), for SQL's ``*``.
    """
    name = op.get("operation")
    if name in ("search_by_hash", "search_by_id"):
        return by_hash(validate_search_by_hash(op, catalog), catalog)
    if name == "search_by_value":
        return by_value(validate_search_by_value(op, catalog), catalog)
    if name == "search_by_conditions":
        return by_conditions(validate_search_by_conditions(op, catalog), catalog)
    if name == "sql":
        return plan_sql(validate_sql(op), catalog, duckdb_memory, readable)
    raise operation_not_found(name)
