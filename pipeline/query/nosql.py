"""Harper's search operations as scans: what each shard filters, and how the gathered rows are finished.

A scan spec travels to the shards as JSON:
``{"database", "table", "keys": [...] | null, "conditions": tree | null}``
where a condition tree is ``{"operator": "and"|"or", "conditions": [...]}`` or
``{"search_attribute", "search_type", "search_value"}`` (Harper's own names,
aliases already resolved by :mod:`pipeline.contract.validate_search`). The shard compiles the
tree once into a predicate (:func:`compile_predicate`) and streams matching
rows in primary-key order; ``Plan.finish`` orders, pages and projects them.

Values of different types compare the way Harper's index orders them: null,
then booleans, then numbers, then strings (then anything else).
"""
from __future__ import annotations

import heapq
import tempfile
from dataclasses import dataclass
from itertools import islice
from typing import Any, BinaryIO, Callable, Iterable, Iterator

from .. import codec
from ..catalog import TIMESTAMPS, Catalog, TableDef
from ..contract.errors import operation_not_found
from ..contract.validate_search import validate_search_by_conditions, validate_search_by_hash, validate_search_by_value
from ..contract.validate_sql import validate_sql

Predicate = Callable[[dict[str, Any]], bool]
Rows = Iterable[dict[str, Any]]


@dataclass
class Plan:
    """The scans a search needs, and how their rows (each scan's in key order) become the answer.

    ``finish`` streams where it can (an export of a whole table never holds it
    in memory); sorting and SQL's final stage need all the rows first.
    """

    scans: list[dict[str, Any]]
    finish: Callable[[list[Rows]], Iterator[dict[str, Any]]]


def order_key(value: Any) -> tuple[int, Any]:
    """A total order over JSON values: null < booleans < numbers < strings < the rest."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, (int, float)):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    return (4, codec.dumps(value))


_MISSING = object()


def _leaf(attribute: str, comparator: str, value: Any) -> Predicate:
    def get(row: dict) -> Any:
        return row.get(attribute, _MISSING)

    if comparator == "equals" and value is None:
        return lambda row: row.get(attribute) is None  # SQL's IS NULL: a missing attribute is null too
    if comparator == "equals":
        wanted = order_key(value)
        return lambda row: (v := get(row)) is not _MISSING and order_key(v) == wanted
    if comparator == "not_equal":
        wanted = order_key(value)
        return lambda row: (v := get(row)) is not _MISSING and v is not None and order_key(v) != wanted
    if comparator == "contains":
        text = str(value)
        return lambda row: (v := get(row)) is not _MISSING and v is not None and text in _text(v)
    if comparator == "starts_with":
        text = str(value)
        return lambda row: isinstance(v := get(row), (str, int, float)) and _text(v).startswith(text)
    if comparator == "ends_with":
        text = str(value)
        return lambda row: isinstance(v := get(row), (str, int, float)) and _text(v).endswith(text)
    if comparator == "between":
        low, high = order_key(value[0]), order_key(value[1])
        return lambda row: (v := get(row)) is not _MISSING and v is not None and low <= order_key(v) <= high
    bound = order_key(value)
    compare = {"greater_than": lambda k: k > bound, "greater_than_equal": lambda k: k >= bound,
               "less_than": lambda k: k < bound, "less_than_equal": lambda k: k <= bound}[comparator]
    # a range stays within the value's own type, as an index range does
    return lambda row: (v := get(row)) is not _MISSING and v is not None and \
        (k := order_key(v))[0] == bound[0] and compare(k)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def _compile(tree: dict[str, Any]) -> Predicate:
    if "conditions" in tree:
        parts = [_compile(c) for c in tree["conditions"]]
        if tree.get("operator", "and") == "or":
            return lambda row: any(p(row) for p in parts)
        return lambda row: all(p(row) for p in parts)
    if tree.get("search_type") == "not":
        inner = _compile(tree["search_value"])
        return lambda row: not inner(row)
    return _leaf(tree["search_attribute"], tree["search_type"], tree["search_value"])


def compile_predicate(spec: dict[str, Any]) -> Predicate | None:
    """The shard-side filter of a scan spec, compiled once per scan."""
    tree = spec.get("conditions")
    return _compile(tree) if tree else None


# ---- projection ----------------------------------------------------------------------------
def all_attributes(table: TableDef) -> list[str]:
    """``*``: the primary key, the timestamps, then every other attribute alphabetically."""
    rest = sorted(a for a in table.attributes if a != table.primary_key and a not in TIMESTAMPS)
    return [table.primary_key, *TIMESTAMPS, *rest]


def columns(table: TableDef, get_attributes: list) -> list[str]:
    if "*" in get_attributes:
        return all_attributes(table)
    return [str(a) for a in get_attributes]


def project(rows: Rows, names: list[str]) -> Iterator[dict[str, Any]]:
    """Every named attribute in every record, null where a record lacks it."""
    return ({name: row.get(name) for name in names} for row in rows)


def _page(rows: Rows, op: dict) -> Rows:
    offset = op.get("offset") or 0
    limit = op.get("limit")
    return islice(rows, offset, offset + limit if limit is not None else None)


def _sorter(sort: dict[str, Any] | None) -> list[tuple[str, bool]]:
    out = []
    while sort:
        out.append((sort["attribute"], bool(sort.get("descending", False))))
        sort = sort.get("next")
    return out


#: rows sorted in memory at a time; more are sorted in runs on disk and merged
SORT_RUN = 50_000


class _SortKey:
    """Orders rows by several attributes, each ascending or descending."""
    __slots__ = ("parts", "descending")

    def __init__(self, row: dict[str, Any], keys: list[tuple[str, bool]]) -> None:
        self.parts = [order_key(row.get(attribute)) for attribute, _ in keys]
        self.descending = [descending for _, descending in keys]

    def __eq__(self, other: object) -> bool:  # heapq.merge compares [key, order, ...] lists: ties must be equal
        return isinstance(other, _SortKey) and self.parts == other.parts

    __hash__ = None  # type: ignore[assignment]

    def __lt__(self, other: "_SortKey") -> bool:
        for mine, theirs, descending in zip(self.parts, other.parts, self.descending):
            if mine != theirs:
                return mine > theirs if descending else mine < theirs
        return False


def _sort(rows: Rows, keys: list[tuple[str, bool]], primary_key: str) -> Rows:
    """Rows in ``keys`` order, stable; memory bounded by :data:`SORT_RUN` rows whatever the result's size."""
    if keys == [(primary_key, False)]:
        return rows  # the shards' rows arrive merged in primary-key order already
    runs: list[BinaryIO] = []
    run: list[dict[str, Any]] = []
    for row in rows:
        run.append(row)
        if len(run) >= SORT_RUN:
            runs.append(_spill_run(sorted(run, key=lambda r: _SortKey(r, keys))))
            run = []
    run.sort(key=lambda r: _SortKey(r, keys))
    if not runs:
        return iter(run)
    return heapq.merge(*[_read_run(f) for f in runs], iter(run), key=lambda r: _SortKey(r, keys))


def _spill_run(rows: list[dict[str, Any]]) -> BinaryIO:
    spilled = tempfile.TemporaryFile()
    for row in rows:
        spilled.write(codec.dumps(row) + b"\n")
    spilled.seek(0)
    return spilled


def _read_run(spilled: BinaryIO) -> Iterator[dict[str, Any]]:
    with spilled:
        for line in spilled:
            yield codec.loads(line)


# ---- the operations ------------------------------------------------------------------------
def plan(op: dict[str, Any], catalog: Catalog, duckdb_memory: str = "256MB") -> Plan:
    """How to answer a search: the scans to scatter, and how to finish their rows."""
    name = op.get("operation")
    if name in ("search_by_hash", "search_by_id"):
        return _by_hash(validate_search_by_hash(op, catalog), catalog)
    if name == "search_by_value":
        return _by_value(validate_search_by_value(op, catalog), catalog)
    if name == "search_by_conditions":
        return _by_conditions(validate_search_by_conditions(op, catalog), catalog)
    if name == "sql":
        from .sql import plan_sql

        return plan_sql(validate_sql(op), catalog, duckdb_memory)
    raise operation_not_found(name)


def _spec(op: dict, keys: list | None = None, conditions: dict | None = None) -> dict[str, Any]:
    return {"database": op["database"], "table": op["table"], "keys": keys, "conditions": conditions}


def _by_hash(op: dict, catalog: Catalog) -> Plan:
    table = catalog.table(op["database"], op["table"])
    names = columns(table, op["get_attributes"])
    wanted = op["hash_values"]

    def finish(results: list[Rows]) -> Iterator[dict[str, Any]]:
        found = {codec.encode_key(codec.normalize_key(r[table.primary_key])): r for r in results[0]}
        ordered = []
        for value in wanted:
            row = found.pop(codec.encode_key(codec.normalize_key(value)), None)
            if row is not None:
                ordered.append(row)
        return project(ordered, names)

    return Plan([_spec(op, keys=wanted)], finish)


def value_condition(attribute: str, value: Any) -> dict[str, Any] | None:
    """search_by_value's wildcards: ``*`` alone is everything; one ``*`` is stripped from each end."""
    if not isinstance(value, str) or "*" not in value:
        return {"search_attribute": attribute, "search_type": "equals", "search_value": value}
    if value == "*":
        return None
    starts, ends = value.startswith("*"), value.endswith("*")
    core = value[1 if starts else 0: -1 if ends else None]
    if starts and ends:
        comparator = "contains"
    elif starts:
        comparator = "ends_with"
    elif ends:
        comparator = "starts_with"
    else:
        comparator = "equals"
        core = value
    return {"search_attribute": attribute, "search_type": comparator, "search_value": core}


def _by_value(op: dict, catalog: Catalog) -> Plan:
    table = catalog.table(op["database"], op["table"])
    names = columns(table, op["get_attributes"])
    attribute = op["search_attribute"]
    descending = bool(op.get("desc", op.get("reverse", False)))
    sort = _sorter(op.get("sort")) or [(attribute, descending)]

    def finish(results: list[Rows]) -> Iterator[dict[str, Any]]:
        return project(_page(_sort(results[0], sort, table.primary_key), op), names)

    return Plan([_spec(op, conditions=value_condition(attribute, op["search_value"]))], finish)


def _by_conditions(op: dict, catalog: Catalog) -> Plan:
    table = catalog.table(op["database"], op["table"])
    names = columns(table, op["get_attributes"])
    sort = _sorter(op.get("sort"))
    tree = {"operator": op["operator"], "conditions": op["conditions"]}

    def finish(results: list[Rows]) -> Iterator[dict[str, Any]]:
        rows = _sort(results[0], sort, table.primary_key) if sort else results[0]
        return project(_page(rows, op), names)

    return Plan([_spec(op, conditions=tree)], finish)
