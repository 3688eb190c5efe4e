"""Harper's ``sql`` operation (SELECT): pushed down to the shard scans, finished in DuckDB when needed.

The statement is parsed and checked by :mod:`pipeline.contract.validate_sql`
(only a SELECT over the catalog's tables gets here; INSERT, UPDATE and
DELETE are :mod:`pipeline.query.dml`'s). Each table it reads becomes a scan;
the WHERE of a single-table statement is pushed down to the shards as SQL
text and evaluated there by Harper's row evaluator
(:mod:`pipeline.query.expr`), functions and Harper's coercions included. A
statement that only filters and picks columns is then finished in Python,
keeping the stored JSON values exactly; a SELECT without FROM is evaluated in
Python too; anything more (joins, ORDER BY, LIMIT, DISTINCT, GROUP BY,
aggregates, expressions) runs in DuckDB over the gathered rows
(:mod:`pipeline.query.final_stage`).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Iterator

from sqlglot import exp

from ..catalog import TIMESTAMPS, Catalog, TableDef
from ..contract.errors import HarperError
from ..contract.validate_sql import DML, HarperSQL, parse, tables as tables_read
from . import final_stage
from .expr import NotEvaluable, compile_expression, compile_where
from .final_stage import alasql_name
from .plan import Plan, Rows, all_attributes


def _simple_columns(statement: exp.Select, table: TableDef, filtered: bool) -> list[tuple[str, str]] | None:
    """(source, output name) of a plain column list, or None when the statement needs an engine.

    Harper's quirk, kept: over a whole table (no WHERE), ``SELECT *, a AS b`` shows ``a`` only as ``b``.
    """
    if any(statement.args.get(k) for k in ("joins", "group", "order", "limit", "offset", "having", "distinct")):
        return None
    renamed = set() if filtered else {p.this.name for p in statement.expressions
                                      if isinstance(p, exp.Alias) and isinstance(p.this, exp.Column)}
    out = []
    for projection in statement.expressions:
        if isinstance(projection, exp.Star) or (isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)):
            out += [(a, a) for a in all_attributes(table) if a not in renamed]
        elif isinstance(projection, exp.Column):
            out.append((projection.name, projection.name))
        elif isinstance(projection, exp.Alias) and isinstance(projection.this, exp.Column) \
                and not isinstance(projection.this.this, exp.Star):
            out.append((projection.this.name, projection.alias))
        else:
            return None
    return out


def _plain_count(statement: exp.Select) -> str | None:
    """The name of the one column of a ``SELECT COUNT(*) [AS name] FROM t [WHERE ...]``, or None for anything else."""
    if any(statement.args.get(k) for k in ("joins", "group", "order", "limit", "offset", "having", "distinct")) \
            or len(statement.expressions) != 1:
        return None
    projection = statement.expressions[0]
    count = projection.this if isinstance(projection, exp.Alias) else projection
    if not isinstance(count, exp.Count) or not isinstance(count.this, exp.Star):
        return None
    return projection.alias if isinstance(projection, exp.Alias) else "COUNT(*)"


def plan_sql(sql: str, catalog: Catalog, duckdb_memory: str = "48MB",
             readable: Callable[[TableDef], list[str] | None] | None = None) -> Plan:
    """``readable``: the attributes of a table the requester may read (None: all); a ``*`` shows only those,
    and a row left with nothing but its timestamps is not shown (Harper answers [] for a table whose
    attributes the role may not read)."""
    statement = parse(sql)
    if isinstance(statement, DML):  # an export's search, say: writes are the sql operation's own
        raise HarperError(f"A search runs a SELECT, not {statement.key.upper()}")
    tables = tables_read(statement, catalog)
    if readable is not None:
        tables = [(node, _narrowed(table, readable(table))) for node, table in tables]
    if not tables:
        row = _without_from(statement)
        return Plan([], lambda results: iter([row]))
    where = statement.args.get("where")
    pushed = None
    if where is not None and len(tables) == 1 and not statement.find(exp.Subquery):
        try:
            compile_where(where.this.sql(dialect=HarperSQL))
            pushed = where.this.sql(dialect=HarperSQL)
        except NotEvaluable:
            pushed = None
    scans = [{"database": t.database, "table": t.name, "keys": None, "conditions": None, "where": pushed}
             for _, t in tables]
    count_as = _plain_count(statement) if len(tables) == 1 and (where is None or pushed) else None
    if count_as is not None:  # the shards count, as for describe_table: no row travels
        return Plan([{**scans[0], "count_only": True}], lambda results: iter(()), count_as=count_as)
    if pushed is not None:
        statement = statement.copy()
        statement.set("where", None)
    simple = _simple_columns(statement, tables[0][1], where is not None) \
        if len(tables) == 1 and (where is None or pushed) else None
    if simple is not None:
        def finish_simple(results: list[Rows]) -> Iterator[dict[str, Any]]:
            rows = ({out: row.get(source) for source, out in simple} for row in results[0])
            if readable is None:
                return rows
            return (row for row in rows if any(k not in TIMESTAMPS for k in row))
        return Plan(scans, finish_simple)
    return Plan(scans, lambda results: final_stage.run(statement, tables, results, duckdb_memory))


def _narrowed(table: TableDef, readable: list[str] | None) -> TableDef:
    """The table as a role sees it: only the attributes it may read."""
    if readable is None:
        return table
    keep = set(readable)
    return replace(table, attributes={a: t for a, t in table.attributes.items() if a in keep})


def _without_from(statement: exp.Select) -> dict[str, Any]:
    """A SELECT without FROM: one row, its expressions evaluated by Harper's evaluator."""
    row: dict[str, Any] = {}
    for projection in statement.expressions:
        node, name = (projection.this, projection.alias) if isinstance(projection, exp.Alias) else \
            (projection, alasql_name(projection, "'"))
        try:
            value = compile_expression(node)({})
        except NotEvaluable as err:
            raise HarperError(f"Invalid SQL: {err}") from None
        if value is not None:
            row[name] = value
    return row
