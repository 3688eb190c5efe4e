"""A search's plan: the scans it scatters to the shards, and how their gathered rows become the answer.

A scan spec travels to the shards as JSON:
``{"database", "table", "keys": [...] | null, "conditions": tree | null, "where": SQL | null}``
where a condition tree is ``{"operator": "and"|"or", "conditions": [...]}`` or
``{"search_attribute", "search_type", "search_value"}`` (Harper's own names,
aliases already resolved by :mod:`pipeline.contract.validate_search`), and
``where`` an SQL WHERE as text, evaluated on the shard by
:mod:`pipeline.query.expr`. Each
shard streams its matching rows in primary-key order (see
:mod:`pipeline.query.predicate`); ``Plan.finish`` orders, pages and projects
them.

Values of different types compare the way Harper's index orders them: null,
then booleans, then numbers, then strings (then anything else).
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

from .. import codec
from ..catalog import TIMESTAMPS, TableDef

Rows = Iterable[dict[str, Any]]


@dataclass
class Plan:
    """The scans a search needs, and how their rows (each scan's in key order) become the answer.

    ``finish`` streams where it can (an export of a whole table never holds it
    in memory); sorting and SQL's final stage need all the rows first.
    """

    scans: list[dict[str, Any]]
    finish: Callable[[list[Rows]], Iterator[dict[str, Any]]]
    #: a plain count: its one scan only counts (``count_only``), and the answer is ``[{count_as: count}]``
    count_as: str | None = None
    #: Set when the one scan's rows, as the shards send them (JSON bytes, already projected: the scan names
    #: its ``attributes``), are the answer once paged: nothing reorders them. An export then writes their
    #: bytes as they come instead of decoding and encoding every row again.
    finish_sent: Callable[[Iterable[bytes]], Iterator[bytes]] | None = None

    def answer(self, results: list[Rows], counts: list[int]) -> Iterator[dict[str, Any]]:
        """The answer from each scan's rows and row count."""
        if self.count_as is not None:
            return iter([{self.count_as: counts[0]}])
        return self.finish(results)


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


def all_attributes(table: TableDef) -> list[str]:
    """``*``: the primary key, the timestamps, then every other attribute alphabetically."""
    rest = sorted(a for a in table.attributes if a != table.primary_key and a not in TIMESTAMPS)
    return [a for a in (table.primary_key, *TIMESTAMPS) if a in table.attributes] + rest


def columns(table: TableDef, get_attributes: list) -> list[str]:
    if "*" in get_attributes:
        return all_attributes(table)
    return [str(a) for a in get_attributes]


def project(rows: Rows, names: list[str]) -> Iterator[dict[str, Any]]:
    """Every named attribute in every record, null where a record lacks it."""
    return ({name: row.get(name) for name in names} for row in rows)


class Projection:
    """:func:`project` of one row held as JSON bytes, done where the row is stored (a shard's scan).

    A row stored with exactly the projected attributes in their order (the
    store keeps rows in :func:`all_attributes`' order) is its own projection:
    its bytes are passed on as they are, not encoded again; any other row is
    projected. It is told from the decoded row (``row``, decoded once for the
    scan's filter too): a check of the bytes alone (the members' names in
    order, with nested objects and strings holding ``":`` ruled out)
    measured slower than orjson's decoding.
    """

    def __init__(self, names: list[str]) -> None:
        self.names = names

    def __call__(self, raw: bytes, row: dict[str, Any]) -> bytes:
        if list(row) == self.names:
            return raw
        return codec.dumps(next(project((row,), self.names)))


def page(rows: Rows, op: dict) -> Rows:
    offset = op.get("offset") or 0
    limit = op.get("limit")
    return islice(rows, offset, offset + limit if limit is not None else None)


def sort_keys(sort: dict[str, Any] | None) -> list[tuple[str, bool]]:
    out = []
    while sort:
        out.append((sort["attribute"], bool(sort.get("descending", False))))
        sort = sort.get("next")
    return out
