"""Harper's checks of the ``sql`` operation: the request, the statement (one SELECT), the tables it reads.

The statement is parsed with sqlglot (MySQL's dialect, as Harper's SQL is
close to it). :func:`references` serves the permission check, which runs
before the statement is planned.
"""
from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from ..catalog import Catalog, TableDef
from .answers import database_missing, table_missing
from .errors import HarperError


def validate_sql(op: dict) -> str:
    sql = op.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise HarperError("The 'sql' parameter is missing from the request body")
    return sql


def parse(sql: str) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(sql, read="mysql") if s is not None]
    except ParseError as err:
        detail = err.errors[0] if err.errors else {}
        where = f" at line {detail.get('line')}, column {detail.get('col')}" if detail.get("line") else ""
        raise HarperError(f"Invalid SQL{where}: {detail.get('description') or err}. Please ensure your SQL "
                                 "is valid. Try adding backticks to reserved words and schema table references.")
    if len(statements) != 1:
        raise HarperError("Exactly one SQL statement is expected")
    statement = statements[0]
    if not isinstance(statement, exp.Select):
        raise HarperError(f"Only SELECT statements are supported here, not {statement.key.upper()}")
    return statement


def tables(statement: exp.Select, catalog: Catalog) -> list[tuple[exp.Table, TableDef]]:
    found = []
    for node in statement.find_all(exp.Table):
        if not node.db:
            raise HarperError(f"schema not defined for table {node.name}", 500)
        if not catalog.has_database(node.db):
            raise HarperError(database_missing(node.db), 404)
        table = catalog.table(node.db, node.name)
        if table is None:
            raise HarperError(table_missing(node.db, node.name), 404)
        found.append((node, table))
    if not found:
        raise HarperError("A SELECT needs a FROM database.table")
    return found


def references(sql: Any) -> list[tuple[str, str, list[str]]]:
    """(database, table, the columns named on it; ``*`` for all) for each table a statement reads.

    For the permission check, before the statement is planned; a statement
    that does not parse names nothing (planning it reports the error).
    """
    try:
        statement = parse(sql) if isinstance(sql, str) else None
    except HarperError:
        statement = None
    if statement is None:
        return []
    tables = [t for t in statement.find_all(exp.Table) if t.db]
    by_alias = {(t.alias or t.name): i for i, t in enumerate(tables)}
    columns: list[list[str]] = [[] for _ in tables]
    for node in statement.find_all(exp.Column, exp.Star):
        star = isinstance(node, exp.Star) or isinstance(node.this, exp.Star)
        if isinstance(node, exp.Star) and isinstance(node.parent, (exp.Column, exp.Count)):
            continue  # counted as its column; COUNT(*) reads no attribute
        qualifier = node.table if isinstance(node, exp.Column) else ""
        targets = [by_alias[qualifier]] if qualifier in by_alias else range(len(tables)) if star or \
            len(tables) == 1 else []
        for i in targets:
            columns[i].append("*" if star else node.name)
    return [(t.db, t.name, cols) for t, cols in zip(tables, columns)]
