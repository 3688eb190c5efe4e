"""Harper's ``sql`` operation (SELECT): pushed down to the shard scans, finished in DuckDB when needed.

The statement is parsed and checked by :mod:`pipeline.contract.validate_sql`
(only a SELECT over the catalog's tables gets here). DuckDB is locked down
as well, in case a shape slips through: its tables are loaded from the scans
first, then external access is disabled and the configuration locked before
the user's statement runs (:func:`final_stage`).
Each table it reads becomes a scan; the WHERE of a single-table statement is
pushed down to the shards as SQL text and evaluated there by Harper's row
evaluator (:mod:`pipeline.query.expr`), functions and Harper's coercions
included. A statement that only filters and picks columns is then finished
in Python, keeping the stored JSON values exactly; a SELECT without FROM is
evaluated in Python too; anything more (joins, ORDER BY, LIMIT, DISTINCT,
GROUP BY, aggregates, expressions) runs in DuckDB over the gathered rows,
which DuckDB may spill to disk.

Harper's values are dynamically typed; in DuckDB a column whose values share
one type gets that type (integers and floats together are numbers), and a
mixed one stays JSON, with Harper's behaviour put back where it matters
(:func:`_harper_semantics`): ORDER BY sorts it as Harper does (null first,
numbers and numeric text by value, then text), and arithmetic and SUM/AVG/
MIN/MAX read it as numbers. Ties keep the tables' key order, as Harper's
stable sort over its scans does. Harper's functions are the same Python
functions the shards use, registered in DuckDB (:func:`_register_functions`).
Output names are Harper's: a repeated column of a join is ``id``, ``id1``,
``id2``; an expression without alias is named as AlaSQL prints it; an
expression that yields NULL is left out of its row, as AlaSQL leaves out
``undefined``.
"""
from __future__ import annotations

import contextlib
import decimal
import json
import math
import os
import re
import struct
import tempfile
from dataclasses import replace
from datetime import date, datetime
from typing import Any, Callable, Iterator

import duckdb
from sqlglot import exp

from .. import codec
from ..catalog import TIMESTAMPS, Catalog, TableDef
from ..contract.errors import HarperError
from ..contract.validate_sql import DML, HarperSQL, parse, tables as tables_read
from .exceptions import SearchFailed
from .expr import NotEvaluable, compile_expression, compile_where, is_number
from .functions import FUNCTIONS, Function, lookup
from .plan import Plan, Rows, all_attributes

#: sqlglot's nodes for functions written without parentheses, by their Harper name
_KEYWORD_FUNCTIONS = {exp.CurrentTimestamp: "current_timestamp", exp.CurrentDate: "current_date",
                      exp.CurrentTime: "current_time"}
_AGGREGATES = (exp.Sum, exp.Avg, exp.Min, exp.Max)
#: the hidden column of every table in the final stage: a row's place in its scan (key order)
POSITION = "__hp_position"
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)
#: where text is read as a number (``+`` of text concatenates, MIN/MAX of text compare text)
_NUMERIC = (exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Sum, exp.Avg)

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


def plan_sql(sql: str, catalog: Catalog, duckdb_memory: str = "256MB",
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
    return Plan(scans, lambda results: _run_duckdb(statement, tables, results, duckdb_memory))


def _narrowed(table: TableDef, readable: list[str] | None) -> TableDef:
    """The table as a role sees it: only the attributes it may read."""
    if readable is None:
        return table
    keep = set(readable)
    return replace(table, attributes={a: t for a, t in table.attributes.items() if a in keep})


def alasql_name(node: exp.Expression, quote: str = '"') -> str:
    """The name AlaSQL gives an expression without an alias: calls without spaces after commas, text in
    ``quote`` (Harper quotes with ' without FROM, with " over a table), operators spaced."""
    if isinstance(node, exp.Literal):
        return f"{quote}{node.this}{quote}" if node.is_string else node.this
    if isinstance(node, exp.Column):
        return node.sql(dialect=HarperSQL) if not node.table else f"{node.table}.{node.name}"
    if isinstance(node, exp.Anonymous):
        return f"{node.name}({','.join(alasql_name(a, quote) for a in node.expressions)})"
    if isinstance(node, exp.Binary) and not isinstance(node, (exp.And, exp.Or)):
        operator = node.sql(dialect=HarperSQL)[len(node.left.sql(dialect=HarperSQL)):]
        operator = operator[:len(operator) - len(node.right.sql(dialect=HarperSQL))].strip()
        return f"{alasql_name(node.left, quote)} {operator} {alasql_name(node.right, quote)}"
    if isinstance(node, exp.Paren):
        return f"({alasql_name(node.this, quote)})"
    return node.sql(dialect=HarperSQL)


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


def _run_duckdb(statement: exp.Select, tables: list[tuple[exp.Table, TableDef]],
                results: list[Rows], memory: str) -> Iterator[dict[str, Any]]:
    statement = statement.copy()
    loaded = []
    aliases: list[tuple[str, TableDef]] = []
    for i, ((_, table), node) in enumerate(zip(tables, statement.find_all(exp.Table))):
        alias = node.alias or node.name
        node.set("db", None)
        node.set("this", exp.to_identifier(f"t{i}"))
        node.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        loaded.append((f"t{i}", all_attributes(table), results[i]))
        aliases.append((alias, table))
    computed = set()
    for projection in list(statement.expressions):
        if isinstance(projection, exp.Alias) and not isinstance(projection.this, exp.Column):
            computed.add(projection.alias)
        elif not isinstance(projection, (exp.Column, exp.Alias, exp.Star)):
            name = alasql_name(projection)
            computed.add(name)
            projection.replace(exp.alias_(projection.copy(), name, quoted=True))
    known = {c for _, columns, _ in loaded for c in columns}
    try:
        with final_stage(loaded, memory) as connection:
            types = {(alias, column): kind for (alias, _), (name, _, _) in zip(aliases, loaded)
                     for column, kind in connection.execute(
                         "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?",
                         [name]).fetchall()}
            sql = _harper_semantics(statement, aliases, types).sql(dialect="duckdb")
            cursor = connection.execute(sql)
            names = _output_names([d[0] for d in cursor.description], known, len(aliases) > 1)
            is_json = [str(d[1]) == "JSON" for d in cursor.description]
            while chunk := cursor.fetchmany(10_000):
                for row in chunk:
                    out = {}
                    for n, j, v in zip(names, is_json, row):
                        if n is None:
                            continue
                        value = json.loads(v) if j and v is not None else _python(v)
                        if value is not None or n not in computed:
                            out[n] = value
                    yield out
    except duckdb.Error as err:
        raise SearchFailed(_harper_error(err)) from err


def _harper_error(err: duckdb.Error) -> str:
    """What a user reads when DuckDB cannot run a statement Harper's checks let through: never DuckDB's text."""
    if isinstance(err, duckdb.BinderException):
        found = re.search(r'column "([^"]+)" not found|named "([^"]+)"', str(err))
        if found:
            return f"unknown column {found.group(1) or found.group(2)}"
    return "There was a problem performing this search. Please check your SQL and try again."


def _output_names(names: list[str], known: set[str], joined: bool) -> list[str | None]:
    """Harper (AlaSQL) names a column repeated by a join ``id``, ``id1``, ``id2``, and shows a column of one
    table once (``SELECT id, *``: None marks the repeat); DuckDB repeats the name, or names it ``id_1``
    when it expands a star."""
    out: list[str | None] = []
    for name in names:
        repeated = re.fullmatch(r"(.+)_(\d+)", name)
        if repeated and name not in known and repeated.group(1) in out:
            name = repeated.group(1)
        if name in out and not joined:
            out.append(None)
            continue
        if name in out:
            n = 1
            while f"{name}{n}" in out:
                n += 1
            name = f"{name}{n}"
        out.append(name)
    return out


def _harper_semantics(statement: exp.Select, aliases: list[tuple[str, TableDef]],
                      types: dict[tuple[str, str], str]) -> exp.Select:
    """The statement as DuckDB must run it to answer as Harper does (see the module's docstring).

    ``types``: the DuckDB type of each (table alias, column) as loaded.
    """
    def kind(node: exp.Expression) -> str | None:
        if not isinstance(node, exp.Column) or isinstance(node.this, exp.Star):
            return None
        for alias, _ in aliases:
            if (node.table == alias or not node.table) and (alias, node.name) in types:
                return types[(alias, node.name)]
        return None

    def mixed(node: exp.Expression) -> bool:
        return kind(node) == "JSON"

    def rewrite(node: exp.Expression) -> exp.Expression:
        function = _harper_function(node)
        if function is not None:
            args = _call_arguments(node)
            return exp.Anonymous(this=_udf_name(function, len(args)),
                                 expressions=[exp.Anonymous(this="to_json", expressions=[a]) for a in args])
        if mixed(node) and isinstance(node.parent, _ARITHMETIC + _AGGREGATES) or \
                kind(node) == "VARCHAR" and isinstance(node.parent, _NUMERIC):
            return _as_number(node)  # JavaScript reads numeric text as its number there
        return node

    statement = statement.transform(rewrite)
    for star in list(statement.find_all(exp.Star)):
        if isinstance(star.parent, (exp.Select, exp.Column)) and not star.args.get("except_"):
            star.set("except_", [exp.column(POSITION)])
    grouped = bool(statement.args.get("group") or any(statement.find_all(exp.AggFunc)))
    if statement.args.get("distinct") or (grouped and not statement.args.get("group")):
        return statement
    order = statement.args.get("order")
    if order is None:
        order = exp.Order(expressions=[])
        statement.set("order", order)
    by_alias = {p.alias: p.this for p in statement.expressions if isinstance(p, exp.Alias)}
    for ordered in order.expressions:
        key = ordered.this
        if isinstance(key, exp.Column) and not key.table and key.name in by_alias \
                and isinstance(by_alias[key.name], exp.Column):
            key = by_alias[key.name]
        if mixed(key):
            ordered.set("this", _sort_key(key.copy()))
        # Harper puts nulls first going up and last going down
        ordered.set("nulls_first", not ordered.args.get("desc"))
    # ties (and a statement without ORDER BY) keep the order of the scans, as Harper's stable sort does;
    # groups come in the order of their first rows
    for alias, _ in aliases:
        position: exp.Expression = exp.column(POSITION, table=alias, quoted=True)
        if grouped:
            position = exp.Min(this=position)
        order.append("expressions", exp.Ordered(this=position, nulls_first=True))
    return statement


def _harper_function(node: exp.Expression) -> Function | None:
    if type(node) in _KEYWORD_FUNCTIONS:
        return lookup(_KEYWORD_FUNCTIONS[type(node)])
    if isinstance(node, exp.Anonymous) and not node.name.startswith("hp_"):
        return lookup(node.name)
    return None


def _call_arguments(node: exp.Expression) -> list[exp.Expression]:
    return list(node.expressions) if isinstance(node, exp.Anonymous) else []


def _udf_name(function: Function, arity: int) -> str:
    return f"hp_{function.name}_{arity}"


def _as_number(column: exp.Column) -> exp.Expression:
    return exp.Anonymous(this="hp_number", expressions=[exp.Anonymous(this="to_json", expressions=[column])])


def _sort_key(column: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this="hp_sort_key", expressions=[exp.Anonymous(this="to_json", expressions=[column])])


def _decoded(value: str | None) -> Any:
    return json.loads(value) if value is not None else None


def _number(value: str | None) -> float | None:
    """A JSON value as a number, as JavaScript's Number() reads it (None where it is not one)."""
    decoded = _decoded(value)
    if is_number(decoded):
        return float(decoded)
    if isinstance(decoded, str):
        try:
            number = float(decoded)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _sortable(value: str | None) -> str | None:
    """A text that sorts as Harper sorts JSON values: booleans, then numbers and numeric text by value, then
    text, then the rest (nulls are DuckDB's NULL, placed by the statement)."""
    decoded = _decoded(value)
    if decoded is None:
        return None
    if isinstance(decoded, bool):
        return "1" + str(int(decoded))
    number = _number(value)
    if number is not None:
        bits = struct.unpack(">Q", struct.pack(">d", number))[0]
        bits = bits ^ 0xFFFFFFFFFFFFFFFF if number < 0 else bits | 0x8000000000000000
        return f"2{bits:016x}"
    if isinstance(decoded, str):
        return "3" + decoded
    return "4" + value


def _register_functions(connection: duckdb.DuckDBPyConnection) -> None:
    """Harper's functions (the shards' own definitions), and the helpers of :func:`_harper_semantics`."""
    for function in FUNCTIONS.values():
        for arity in range(function.min_args, function.max_args + 1):
            connection.create_function(_udf_name(function, arity), _fixed(_udf(function), arity), ["VARCHAR"] * arity,
                                       function.returns, null_handling="special",
                                       side_effects=function.volatile)
    connection.create_function("hp_number", _number, ["VARCHAR"], "DOUBLE", null_handling="special")
    connection.create_function("hp_sort_key", _sortable, ["VARCHAR"], "VARCHAR", null_handling="special")


def _fixed(call: Callable[..., Any], arity: int) -> Callable[..., Any]:
    """``call`` with exactly ``arity`` named parameters: DuckDB reads a Python function's signature."""
    names = [f"a{i}" for i in range(arity)]
    namespace: dict[str, Any] = {"call": call}
    exec(f"def fixed({', '.join(names)}):\n    return call({', '.join(names)})", namespace)  # noqa: S102
    return namespace["fixed"]


def _udf(function: Function) -> Callable[..., Any]:
    def call(*args: str | None) -> Any:
        value = function.call(*(_decoded(a) for a in args))
        if function.returns == "JSON":
            return None if value is None else codec.dumps(value).decode()
        if function.returns == "DOUBLE":
            return float(value) if is_number(value) else None
        if function.returns == "BOOLEAN":
            return value if isinstance(value, bool) else None
        return value if value is None or isinstance(value, str) else str(value)
    return call


@contextlib.contextmanager
def final_stage(tables: list[tuple[str, list[str], Rows]], memory: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB holding each (name, columns, rows) as a table, then locked down for the user's statement.

    Each table also has the column :data:`POSITION`, each row's place in the
    order the rows came (the table's key order), for Harper's order of ties.

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
                    for position, row in enumerate(rows):
                        out.write(codec.dumps({**{n: row.get(n) for n in columns}, POSITION: position}) + b"\n")
                types = ", ".join(f"{_string(n)}: 'JSON'" for n in columns)
                connection.execute(f"CREATE TABLE {name} AS SELECT * FROM read_json({_string(path)}, "
                                   f"format='newline_delimited', columns={{{types}, {POSITION}: 'BIGINT'}})")
                _retype(connection, name, columns)
            _register_functions(connection)
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
        if kinds <= {"BIGINT", "UBIGINT", "DOUBLE"} and kinds:
            # integers and floats together are numbers (json_type says UBIGINT for a large positive integer)
            cast = "DOUBLE" if "DOUBLE" in kinds else "HUGEINT" if "UBIGINT" in kinds else "BIGINT"
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
