"""Tables whose rows come from a worker's in-memory view instead of shard scans: the system database.

A view is a function returning the table's current rows (the jobs, users
and roles every worker folds from its compacted topics). A scan of a view's
table is answered in the worker that asks: the rows filtered by the scan's
keys and condition tree, with the predicate the shards use, in primary-key
order, into the same sinks as shard rows. Everything after the scan (a
search's finish, SQL's final stage, an export's writer) is the same for both
kinds of table, so a planner only names the table.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from .. import codec
from .gather import Spill, row_line
from .plan import project
from .predicate import compile_predicate

Rows = Callable[[], Iterable[dict[str, Any]]]


class TableViews:
    """The tables this worker serves from views, by (database, table)."""

    def __init__(self) -> None:
        self._views: dict[tuple[str, str], tuple[str, Rows]] = {}

    def register(self, database: str, table: str, primary_key: str, rows: Rows) -> None:
        self._views[(database, table)] = (primary_key, rows)

    def serves(self, spec: dict[str, Any]) -> bool:
        return (spec["database"], spec["table"]) in self._views

    def scan(self, spec: dict[str, Any], sink: Spill | None) -> int:
        """The view's rows a scan spec asks for, handed to ``sink`` in key order; returns how many."""
        primary_key, rows = self._views[(spec["database"], spec["table"])]
        predicate = compile_predicate(spec)
        keys = spec.get("keys")
        wanted = None if keys is None else {codec.encode_key(codec.normalize_key(k)) for k in keys}
        found = []
        for row in rows():
            key = codec.encode_key(codec.normalize_key(row[primary_key]))
            if (wanted is None or key in wanted) and (predicate is None or predicate(row)):
                found.append((key, row))
        if sink is not None and not spec.get("count_only") and found:
            found.sort(key=lambda kr: kr[0])
            rows = (row for _, row in found)
            if spec.get("attributes") is not None:  # projected, as a shard projects its rows
                rows = project(rows, spec["attributes"])
            sink.add(0, b"".join(row_line(key, codec.dumps(row)) for (key, _), row in zip(found, rows)))
        return len(found)
