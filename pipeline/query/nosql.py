"""Harper's NoSQL searches as scans: search_by_hash (by_id), search_by_value, search_by_conditions.

Each becomes one scan of its table (by keys, or with a condition tree the
shards filter by); the gathered rows, in primary-key order, are finished
here: put in the requested order, sorted, paged and projected.
"""
from __future__ import annotations

from typing import Any, Iterator

from .. import codec
from ..catalog import Catalog, TableDef
from .plan import Plan, Rows, columns, page, project, sort_keys
from .sort import sort_rows


def _spec(op: dict, keys: list | None = None, conditions: dict | None = None) -> dict[str, Any]:
    return {"database": op["database"], "table": op["table"], "keys": keys, "conditions": conditions}


def _in_key_order(op: dict, spec: dict[str, Any], names: list[str], finish) -> Plan:
    """A search answered in primary-key order, the order the shards' rows arrive in: the shards project the
    rows (``attributes``), so the answer is their rows as sent, paged (:attr:`Plan.finish_sent`)."""
    return Plan([{**spec, "attributes": names}], finish, finish_sent=lambda rows: iter(page(rows, op)))


def by_hash(op: dict, catalog: Catalog) -> Plan:
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


def by_value(op: dict, catalog: Catalog) -> Plan:
    table = catalog.table(op["database"], op["table"])
    names = columns(table, op["get_attributes"])
    attribute = op["search_attribute"]
    descending = bool(op.get("desc", op.get("reverse", False)))
    sort = sort_keys(op.get("sort")) or [(attribute, descending)]

    def finish(results: list[Rows]) -> Iterator[dict[str, Any]]:
        return project(page(sort_rows(results[0], sort, table.primary_key), op), names)

    spec = _spec(op, conditions=value_condition(attribute, op["search_value"]))
    if sort == [(table.primary_key, False)]:
        return _in_key_order(op, spec, names, finish)
    return Plan([spec], finish)


#: how narrow Harper's planner estimates a condition (lower first): a key, a value, a prefix, a range, a scan
_NARROWNESS = {"equals": 1, "starts_with": 2, "between": 3, "greater_than": 4, "greater_than_equal": 4,
               "less_than": 4, "less_than_equal": 4}


def driving_attribute(table: TableDef, operator: str, conditions: list[dict]) -> str | None:
    """The attribute whose index Harper walks to answer an ``and`` of conditions, which orders its answer.

    Harper starts from the condition it estimates narrowest (the primary key's
    ``equals``, then ``equals``, ``starts_with``, ``between``, the open ranges,
    and last what needs a full scan) and filters by the others; the rows come
    out in that attribute's order. Its estimate of an ``equals`` counts the
    value in the index; here every ``equals`` counts the same, so the first one
    given wins. An ``or`` (and a group) keeps primary-key order.
    """
    leaves = [c for c in conditions if "conditions" not in c]
    if operator != "and" or not leaves:
        return None

    def narrowness(condition: dict) -> int:
        if condition["search_type"] == "equals" and condition["search_attribute"] == table.primary_key:
            return 0
        return _NARROWNESS.get(condition["search_type"], 5)

    return min(leaves, key=narrowness)["search_attribute"]


def by_conditions(op: dict, catalog: Catalog) -> Plan:
    table = catalog.table(op["database"], op["table"])
    names = columns(table, op["get_attributes"])
    driving = driving_attribute(table, op["operator"], op["conditions"])
    sort = sort_keys(op.get("sort")) or ([(driving, bool(op.get("reverse", False)))] if driving else [])
    tree = {"operator": op["operator"], "conditions": op["conditions"]}

    def finish(results: list[Rows]) -> Iterator[dict[str, Any]]:
        rows = sort_rows(results[0], sort, table.primary_key) if sort else results[0]
        return project(page(rows, op), names)

    if not sort or sort == [(table.primary_key, False)]:
        return _in_key_order(op, _spec(op, conditions=tree), names, finish)
    return Plan([_spec(op, conditions=tree)], finish)
