"""Harper's ``sql`` operation (SELECT): pushed down to the shard scans, finished in DuckDB when needed.

The statement is parsed and checked by :mod:`pipeline.contract.validate_sql`
(only a SELECT over the catalog's tables gets here). DuckDB is locked down
as well, in case a shape slips through: its tables are loaded from the scans
first, then external access is disabled and the configuration locked before
the user's statement runs (:func:`final_stage`).
Each table it reads becomes a scan; the WHERE filter of a single-table
statement is pushed down to the shards as a condition tree when every part
of it can be expressed as one. A statement
that only filters and picks columns is then finished in Python, keeping the
stored JSON values exactly; anything more (joins, ORDER BY, LIMIT, DISTINCT,
GROUP BY, aggregates, expressions) runs in DuckDB over the gathered rows,
which DuckDB may spill to disk.
"""
from __future__ import annotations

import contextlib
import decimal
import json
import os
import tempfile
from datetime import date, datetime
from typing import Any, Iterator

import duckdb
from sqlglot import exp

from .. import codec
from ..catalog import Catalog, TableDef
from ..contract.validate_sql import parse, tables as tables_read
from .exceptions import SearchFailed
from .plan import Plan, Rows, all_attributes

_COMPARISONS = {exp.EQ: "equals", exp.NEQ: "not_equal", exp.GT: "greater_than", exp.GTE: "greater_than_equal",
                exp.LT: "less_than", exp.LTE: "less_than_equal"}
_FLIPPED = {"equals": "equals", "not_equal": "not_equal", "greater_than": "less_than",
            "greater_than_equal": "less_than_equal", "less_than": "greater_than",
            "less_than_equal": "greater_than_equal"}


class _NotPushable(Exception):
    pass


def _literal(node: exp.Expression) -> Any:
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        text = node.this
        return int(text) if text.lstrip("-").isdigit() else float(text)
    if isinstance(node, exp.Boolean):
        return node.this
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Neg):
        value = _literal(node.this)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value
    raise _NotPushable


def _column(node: exp.Expression) -> str:
    if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
        return node.name
    raise _NotPushable


def _leaf(attribute: str, comparator: str, value: Any) -> dict[str, Any]:
    return {"search_attribute": attribute, "search_type": comparator, "search_value": value}


def condition(node: exp.Expression) -> dict[str, Any]:
    """A WHERE expression as a shard condition tree; raises _NotPushable when it cannot be one."""
    if isinstance(node, exp.Paren):
        return condition(node.this)
    if isinstance(node, (exp.And, exp.Or)):
        return {"operator": "and" if isinstance(node, exp.And) else "or",
                "conditions": [condition(node.left), condition(node.right)]}
    if isinstance(node, exp.Not):
        if isinstance(node.this, exp.Is):
            return _leaf(_column(node.this.this), "not_equal", _literal(node.this.expression))
        return {"search_attribute": "", "search_type": "not", "search_value": condition(node.this)}
    if type(node) in _COMPARISONS:
        comparator = _COMPARISONS[type(node)]
        try:
            return _leaf(_column(node.left), comparator, _literal(node.right))
        except _NotPushable:
            return _leaf(_column(node.right), _FLIPPED[comparator], _literal(node.left))
    if isinstance(node, exp.Is):
        return _leaf(_column(node.this), "equals", _literal(node.expression))
    if isinstance(node, exp.In) and node.args.get("expressions"):
        attribute = _column(node.this)
        return {"operator": "or", "conditions": [_leaf(attribute, "equals", _literal(v))
                                                 for v in node.args["expressions"]]}
    if isinstance(node, exp.Between):
        return _leaf(_column(node.this), "between", [_literal(node.args["low"]), _literal(node.args["high"])])
    if isinstance(node, exp.Like):
        pattern = _literal(node.expression)
        if not isinstance(pattern, str) or "_" in pattern or "%" in pattern.strip("%"):
            raise _NotPushable
        core = pattern.strip("%")
        starts, ends = pattern.startswith("%"), pattern.endswith("%")
        comparator = "contains" if starts and ends else "ends_with" if starts else "text_starts_with" if ends \
            else "equals"
        return _leaf(_column(node.this), comparator, core)
    raise _NotPushable


def _simple_columns(statement: exp.Select, table: TableDef) -> list[tuple[str, str]] | None:
    """(source, output name) of a plain column list, or None when the statement needs an engine."""
    if any(statement.args.get(k) for k in ("joins", "group", "order", "limit", "offset", "having", "distinct")):
        return None
    out = []
    for projection in statement.expressions:
        if isinstance(projection, exp.Star) or (isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)):
            out += [(a, a) for a in all_attributes(table)]
        elif isinstance(projection, exp.Column):
            out.append((projection.name, projection.name))
        elif isinstance(projection, exp.Alias) and isinstance(projection.this, exp.Column) \
                and not isinstance(projection.this.this, exp.Star):
            out.append((projection.this.name, projection.alias))
        else:
            return None
    return out


def plan_sql(sql: str, catalog: Catalog, duckdb_memory: str = "256MB") -> Plan:
    statement = parse(sql)
    tables = tables_read(statement, catalog)
    where = statement.args.get("where")
    pushed = None
    if where is not None and len(tables) == 1:
        try:
            pushed = condition(where.this)
        except _NotPushable:
            pushed = None
    scans = [{"database": t.database, "table": t.name, "keys": None, "conditions": pushed} for _, t in tables]
    simple = _simple_columns(statement, tables[0][1]) if len(tables) == 1 and (where is None or pushed) else None
    if simple is not None:
        def finish_simple(results: list[Rows]) -> Iterator[dict[str, Any]]:
            return ({out: row.get(source) for source, out in simple} for row in results[0])
        return Plan(scans, finish_simple)
    return Plan(scans, lambda results: _run_duckdb(statement, tables, results, duckdb_memory))


def _run_duckdb(statement: exp.Select, tables: list[tuple[exp.Table, TableDef]],
                results: list[Rows], memory: str) -> Iterator[dict[str, Any]]:
    statement = statement.copy()
    loaded = []
    for i, ((_, table), node) in enumerate(zip(tables, statement.find_all(exp.Table))):
        alias = node.alias or node.name
        node.set("db", None)
        node.set("this", exp.to_identifier(f"t{i}"))
        node.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        loaded.append((f"t{i}", all_attributes(table), results[i]))
    for projection in list(statement.expressions):
        if not isinstance(projection, (exp.Column, exp.Alias, exp.Star)):
            projection.replace(exp.alias_(projection.copy(), projection.sql(dialect="mysql"), quoted=True))
    try:
        with final_stage(loaded, memory) as connection:
            cursor = connection.execute(statement.sql(dialect="duckdb"))
            names = [d[0] for d in cursor.description]
            is_json = [str(d[1]) == "JSON" for d in cursor.description]
            while chunk := cursor.fetchmany(10_000):
                for row in chunk:
                    yield {n: (json.loads(v) if j and v is not None else _python(v))
                           for n, j, v in zip(names, is_json, row)}
    except duckdb.Error as err:
        raise SearchFailed(f"There was a problem performing this search: {err}") from None


@contextlib.contextmanager
def final_stage(tables: list[tuple[str, list[str], Rows]], memory: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB holding each (name, columns, rows) as a table, then locked down for the user's statement.

    The rows go in through our own statements (``read_json`` of a spilled
    file, so memory stays within ``memory``); then external access is disabled
    and the configuration locked, so the statement reaches no file, network,
    extension or setting. DuckDB may still spill to its temporary directory.
    """
    with tempfile.TemporaryDirectory(prefix="hp-sql-") as work:
        connection = duckdb.connect(config={"memory_limit": memory, "temp_directory": work,
                                            "autoinstall_known_extensions": False,
                                            "autoload_known_extensions": False})
        try:
            for name, columns, rows in tables:
                path = os.path.join(work, f"{name}.ndjson")
                with open(path, "wb") as out:
                    for row in rows:
                        out.write(codec.dumps({n: row.get(n) for n in columns}) + b"\n")
                types = ", ".join(f"{_string(n)}: 'JSON'" for n in columns)
                connection.execute(f"CREATE TABLE {name} AS SELECT * FROM read_json({_string(path)}, "
                                   f"format='newline_delimited', columns={{{types}}})")
                _retype(connection, name, columns)
            connection.execute("SET enable_external_access = false")
            connection.execute("SET lock_configuration = true")
            yield connection
        finally:
            connection.close()


def _string(text: str) -> str:
    """An SQL string literal: an attribute name may hold a quote."""
    return "'" + text.replace("'", "''") + "'"


def _retype(connection: duckdb.DuckDBPyConnection, name: str, columns: list[str]) -> None:
    """JSON columns whose values all share one scalar type become that type, so SQL compares them naturally."""
    for column in columns:
        quoted = '"' + column.replace('"', '""') + '"'
        kinds = {k for (k,) in connection.execute(
            f"SELECT DISTINCT json_type({quoted}) FROM {name} WHERE {quoted} IS NOT NULL").fetchall()}
        kinds.discard("NULL")
        target = {"BIGINT": "BIGINT", "UBIGINT": "HUGEINT", "DOUBLE": "DOUBLE", "VARCHAR": "VARCHAR",
                  "BOOLEAN": "BOOLEAN"}
        if kinds <= {"BIGINT", "DOUBLE"} and kinds:
            cast = "DOUBLE" if "DOUBLE" in kinds else "BIGINT"
        elif len(kinds) == 1 and next(iter(kinds)) in target:
            cast = target[next(iter(kinds))]
        else:
            continue
        if cast == "VARCHAR":
            expression = f"json_extract_string({quoted}, '$')"
        else:
            expression = f"CAST({quoted} AS {cast})"
        connection.execute(f"ALTER TABLE {name} ALTER {quoted} TYPE {cast} USING {expression}")


def _python(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value
