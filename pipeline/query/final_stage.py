"""SQL's final stage: DuckDB over the gathered rows, answering as Harper (AlaSQL) does.

The rows of each table read are loaded first (:func:`final_stage`), then
external access is disabled and the configuration locked before the user's
statement runs, so it reaches no file, URL, extension or setting; DuckDB may
spill to its temporary directory within its memory limit.

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
``undefined``. No DuckDB text reaches a user (:func:`_harper_error`).
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
from datetime import date, datetime
from typing import Any, Callable, Iterator

import duckdb
from sqlglot import exp

from .. import codec
from ..catalog import TableDef
from ..contract.validate_sql import HarperSQL
from .exceptions import SearchFailed
from .expr import KEYWORD_FUNCTIONS, is_number
from .functions import FUNCTIONS, Function, lookup
from .plan import Rows, all_attributes

_AGGREGATES = (exp.Sum, exp.Avg, exp.Min, exp.Max)
#: the hidden column of every table in the final stage: a row's place in its scan (key order)
POSITION = "__hp_position"
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)
#: where text is read as a number (``+`` of text concatenates, MIN/MAX of text compare text)
_NUMERIC = (exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Sum, exp.Avg)

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

def run(statement: exp.Select, tables: list[tuple[exp.Table, TableDef]],
                results: list[Rows], memory: str) -> Iterator[dict[str, Any]]:
    statement = statement.copy()
    loaded = []
    aliases: list[tuple[str, TableDef]] = []
    outer: list[str] = []  # the aliases of the statement's own FROM and JOINs (not a subquery's)
    for i, ((_, table), node) in enumerate(zip(tables, statement.find_all(exp.Table))):
        alias = node.alias or node.name
        node.set("db", None)
        node.set("this", exp.to_identifier(f"t{i}"))
        node.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        loaded.append((f"t{i}", all_attributes(table), results[i]))
        aliases.append((alias, table))
        if node.find_ancestor(exp.Select) is statement:
            outer.append(alias)
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
            sql = _harper_semantics(statement, aliases, outer, types).sql(dialect="duckdb")
            cursor = connection.execute(sql)
            names = _output_names([d[0] for d in cursor.description], known, len(outer) > 1)
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


def _harper_semantics(statement: exp.Select, aliases: list[tuple[str, TableDef]], outer: list[str],
                      types: dict[tuple[str, str], str]) -> exp.Select:
    """The statement as DuckDB must run it to answer as Harper does (see the module's docstring).

    ``types``: the DuckDB type of each (table alias, column) as loaded; ``outer``: the aliases the
    statement's own FROM and JOINs bring into scope (the order of ties is theirs).
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
        if isinstance(star.parent, (exp.Select, exp.Column)) and not star.args.get("except_") \
                and _over_a_table(star):
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
    for alias in outer:
        position: exp.Expression = exp.column(POSITION, table=alias, quoted=True)
        if grouped:
            position = exp.Min(this=position)
        order.append("expressions", exp.Ordered(this=position, nulls_first=True))
    return statement


def _over_a_table(star: exp.Star) -> bool:
    """Whether a ``*`` (or ``alias.*``) takes columns of a loaded table, which has the position column
    (a derived table's ``*`` does not)."""
    select = star.find_ancestor(exp.Select)
    if select is None:
        return False
    sources = [select.args.get("from_") or select.args.get("from"), *(select.args.get("joins") or [])]
    tables = {source.this.alias_or_name for source in sources if source is not None
              and isinstance(source.this, exp.Table)}
    qualifier = star.parent.table if isinstance(star.parent, exp.Column) else None
    return qualifier in tables if qualifier else bool(tables)


def _harper_function(node: exp.Expression) -> Function | None:
    if type(node) in KEYWORD_FUNCTIONS:
        return lookup(KEYWORD_FUNCTIONS[type(node)])
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
        # one thread: each DuckDB thread holds buffers of its own, and the worker's bound is 300 MB in all
        connection = duckdb.connect(config={"memory_limit": memory, "threads": 1, "temp_directory": work,
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
