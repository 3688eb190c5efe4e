"""Harper's checks of the ``sql`` operation: the request, the statement, the tables it reads or writes.

The statement is parsed with sqlglot (MySQL's dialect, as Harper's SQL is
close to it, with Harper's functions read as plain calls: :class:`HarperSQL`).
An INSERT ... VALUES, UPDATE ... SET ... WHERE or DELETE ... WHERE on one
``database.table`` is pipeline work (it never reaches DuckDB: see
:mod:`pipeline.query.dml`). Anything else must be a SELECT whose every source is a ``database.table``
of the catalog (or a subquery over them): DuckDB's table functions
(``read_text``, ``read_csv``, ...), ``LATERAL``, other statements (``COPY``,
``ATTACH``, ``PRAGMA``, ``SET``, ``INSTALL``...) and the functions that read
settings or the environment are refused before anything runs, for every
user, the super user included. (The final stage is locked down as well, in
case a shape slips through: :func:`pipeline.query.final_stage.final_stage`.)
:func:`references` serves the permission check, which runs before the
statement is planned.
"""
from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.errors import ParseError
from sqlglot.tokens import TokenType

from ..catalog import Catalog, TableDef
from .answers import (database_missing, sql_function_refused, sql_source_refused, sql_statement_refused,
                      table_missing)
from .errors import HarperError


def validate_sql(op: dict) -> str:
    sql = op.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise HarperError("The 'sql' parameter is missing from the request body")
    return sql


#: Harper's SQL functions whose names MySQL's dialect would read as its own (with other arguments)
HARPER_FUNCTIONS = frozenset({
    "now", "current_date", "current_time", "getdate", "get_server_time", "date", "offset_utc", "date_add",
    "date_sub", "date_diff", "datediff", "date_format", "extract", "upper", "ucase", "lower", "lcase", "floor",
    "ceil", "ceiling", "abs", "sqrt", "round", "random", "rand", "concat", "length", "len", "trim"})


class HarperSQL(MySQL):
    """MySQL's dialect, reading Harper's functions (``DATE_ADD(d, 1, 'days')``, ``DATE()``...) as plain calls,
    and ``||`` as concatenation (AlaSQL's)."""

    class Parser(MySQL.Parser):
        FUNCTIONS = {k: v for k, v in MySQL.Parser.FUNCTIONS.items() if k.lower() not in HARPER_FUNCTIONS}
        FUNCTION_PARSERS = {k: v for k, v in MySQL.Parser.FUNCTION_PARSERS.items()
                            if k.lower() not in HARPER_FUNCTIONS}
        DISJUNCTION = {k: v for k, v in MySQL.Parser.DISJUNCTION.items() if k != TokenType.DPIPE}
        TERM = {**MySQL.Parser.TERM, TokenType.DPIPE: exp.DPipe}


#: words AlaSQL (Harper's SQL engine) reserves: a database or table named by one must be quoted with backticks
#: (each checked as a table name on Harper 4.7, which refuses these and accepts, say, ``key``, ``data``,
#: ``first``, ``view``)
RESERVED = frozenset("""
aggr all alter and any apply array as asc attach auto_increment autoincrement avg begin between break by call
case cast check class close collate column columns commit constraint convert corresponding count create cross
cube current_timestamp cursor database databases declare default delete deleted desc detach distinct drop echo
edge else end enum except exists explain false fetch foreign from graph group grouping having identity if in
index inner insert inserted intersect into is join left like matrix merge minus modify natural new nocase not
null offset on only open or order outer over partition percent plan primary print query recordset reduce
references remove rename repeat require return returns right rollback rollup row rows schema schemas search
select semi set sets show some store strategy sum table tables target temp temporary textstring then timeout
to top trigger true truncate union unique update use using value values vertex when where while with""".split())


def _invalid_sql(sql: str) -> HarperError:
    return HarperError(f"Invalid SQL at: {sql}. Please ensure your SQL is valid. Try adding backticks to "
                       "reserved words and schema table references.")


#: the statements that are pipeline work rather than a query
DML = (exp.Insert, exp.Update, exp.Delete)


def parse(sql: str) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(sql, read=HarperSQL) if s is not None]
    except ParseError as err:
        detail = err.errors[0] if err.errors else {}
        where = f" at line {detail.get('line')}, column {detail.get('col')}" if detail.get("line") else ""
        raise HarperError(f"Invalid SQL{where}: {detail.get('description') or err}. Please ensure your SQL "
                                 "is valid. Try adding backticks to reserved words and schema table references.")
    if len(statements) != 1:
        raise HarperError("Exactly one SQL statement is expected")
    statement = statements[0]
    for node in statement.find_all(exp.Table):
        for part in (node.args.get("db"), node.this):
            if isinstance(part, exp.Identifier) and not part.quoted and part.name.lower() in RESERVED:
                raise _invalid_sql(sql.strip())
    if isinstance(statement, DML):
        _check_dml(statement)
        return statement
    if not isinstance(statement, exp.Select):
        raise HarperError(sql_statement_refused(_keyword(statement, sql)))
    _check_sources(statement)
    return statement


def parse_expression(sql: str) -> exp.Expression:
    """One expression in Harper's SQL (a WHERE or a SET value sent to the shards as text)."""
    return sqlglot.parse_one(f"SELECT {sql}", read=HarperSQL).expressions[0]


def _check_dml(statement: exp.Expression) -> None:
    """An INSERT of VALUES, or an UPDATE/DELETE of one table, whose expressions are Harper's."""
    target = statement.this.this if isinstance(statement, exp.Insert) else statement.this
    if not isinstance(target, exp.Table) or not isinstance(target.this, exp.Identifier) \
            or target.args.get("catalog"):
        raise HarperError(sql_source_refused(target.sql(dialect="mysql")))
    if isinstance(statement, exp.Insert) and not isinstance(statement.expression, exp.Values):
        raise HarperError(sql_statement_refused("INSERT ... SELECT"))
    for key in ("joins", "from", "from_", "using", "order", "limit", "returning", "with"):
        if statement.args.get(key):
            raise HarperError(sql_statement_refused(f"{statement.key.upper()} ... {key.rstrip('_').upper()}"))
    for node in statement.walk():
        if isinstance(node, (exp.Select, exp.Subquery)):
            raise HarperError(sql_statement_refused(f"{statement.key.upper()} with a subquery"))
        _check_function(node)


def target(statement: exp.Expression) -> exp.Table:
    """The table a DML statement writes."""
    return statement.this.this if isinstance(statement, exp.Insert) else statement.this


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
        _check_function(node)


def _check_function(node: exp.Expression) -> None:
    if isinstance(node, exp.Func):
        name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
        if name in _HOST_FUNCTIONS or name.startswith(_HOST_FUNCTION_PREFIXES):
            raise HarperError(sql_function_refused(name))


def table_of(node: exp.Table, catalog: Catalog) -> TableDef:
    """The catalog's table a statement names; Harper's errors when it has none."""
    if not node.db:
        raise HarperError(f"schema not defined for table {node.name}", 500)
    if not catalog.has_database(node.db):
        raise HarperError(database_missing(node.db), 404)
    table = catalog.table(node.db, node.name)
    if table is None:
        raise HarperError(table_missing(node.db, node.name), 404)
    return table


def tables(statement: exp.Select, catalog: Catalog) -> list[tuple[exp.Table, TableDef]]:
    found = []
    for node in statement.find_all(exp.Table):
        found.append((node, table_of(node, catalog)))
    return found


def references(sql: Any) -> list[tuple[str, str, list[str], str]]:
    """(database, table, the columns named on it (``*`` for all, ``.*`` for ``alias.*``), what it does to them)
    for each table a
    statement reads (``read``) or writes (``insert``, ``update``, ``delete``).

    For the permission check, before the statement is planned; a statement
    that does not parse names nothing (planning it reports the error).
    """
    try:
        statement = parse(sql) if isinstance(sql, str) else None
    except HarperError:
        statement = None
    if statement is None:
        return []
    if isinstance(statement, DML):
        written = target(statement)
        if isinstance(statement, exp.Insert):
            return [(written.db, written.name, [i.name for i in statement.this.expressions], "insert")]
        if isinstance(statement, exp.Update):
            return [(written.db, written.name, [e.this.name for e in statement.expressions
                                                if isinstance(e, exp.EQ) and isinstance(e.this, exp.Column)],
                     "update")]
        return [(written.db, written.name, [], "delete")]
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
            # ``alias.*`` is each of the table's attributes (Harper checks each); ``*`` is narrowed instead
            columns[i].append((".*" if qualifier else "*") if star else node.name)
    return [(t.db, t.name, cols, "read") for t, cols in zip(tables, columns)]
