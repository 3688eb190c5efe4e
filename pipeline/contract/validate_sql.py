"""Harper's checks of the ``sql`` operation: the request, the statement (one SELECT), the tables it reads.

The statement is parsed with sqlglot (MySQL's dialect, as Harper's SQL is
close to it) and must be a SELECT whose every source is a ``database.table``
of the catalog (or a subquery over them): DuckDB's table functions
(``read_text``, ``read_csv``, ...), ``LATERAL``, other statements (``COPY``,
``ATTACH``, ``PRAGMA``, ``SET``, ``INSTALL``...) and the functions that read
settings or the environment are refused before anything runs, for every
user, the super user included. (The final stage is locked down as well, in
case a shape slips through: :func:`pipeline.query.sql.final_stage`.)
:func:`references` serves the permission check, which runs before the
statement is planned.
"""
from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from ..catalog import Catalog, TableDef
from .answers import (database_missing, sql_function_refused, sql_source_refused, sql_statement_refused,
                      table_missing)
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
        raise HarperError(sql_statement_refused(_keyword(statement, sql)))
    _check_sources(statement)
    return statement


#: functions that read DuckDB's settings, variables or the host's environment (table functions, which read
#: files, are refused by :func:`_check_sources` wherever they appear)
_HOST_FUNCTIONS = frozenset({"getenv", "current_setting", "getvariable", "current_query", "version"})
_HOST_FUNCTION_PREFIXES = ("read_", "duckdb_", "pragma_", "parquet_", "__internal")


def _keyword(statement: exp.Expression, sql: str) -> str:
    """What kind of statement it is, for people: sqlglot reads some it does not know (``RESET x``,
    ``INSTALL x``) as an expression, and others (``LOAD``, ``CALL``) as a bare command."""
    if isinstance(statement, exp.Command):
        return str(statement.this).upper()
    if isinstance(statement, (exp.Alias, exp.Column, exp.Identifier)):
        return sql.split(maxsplit=1)[0].upper()
    return statement.key.upper()


def _check_sources(statement: exp.Select) -> None:
    """Refuse whatever could read something other than the catalog's tables (see the module's docstring)."""
    for node in statement.walk():
        if isinstance(node, (exp.From, exp.Join)) and not isinstance(node.this, (exp.Table, exp.Subquery)):
            raise HarperError(sql_source_refused(node.this.sql(dialect="mysql")))
        if isinstance(node, exp.Lateral):
            raise HarperError(sql_source_refused(node.sql(dialect="mysql")))
        if isinstance(node, exp.Into):
            raise HarperError(sql_statement_refused("SELECT ... INTO"))
        if isinstance(node, exp.Table) and (not isinstance(node.this, exp.Identifier) or node.args.get("catalog")):
            raise HarperError(sql_source_refused(node.sql(dialect="mysql")))
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in _HOST_FUNCTIONS or name.startswith(_HOST_FUNCTION_PREFIXES):
                raise HarperError(sql_function_refused(name))


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
