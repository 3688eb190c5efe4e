"""A scan's filter: a condition tree (or an SQL WHERE) compiled once, on the shard, into a predicate over stored
rows.

The comparators are Harper's (aliases already resolved by
:mod:`pipeline.contract.validate_search`); values compare in
:func:`pipeline.query.plan.order_key` order, and a range stays within the
value's own type, as an index range does.
"""
from __future__ import annotations

from typing import Any, Callable

from .expr import compile_where
from .plan import order_key

Predicate = Callable[[dict[str, Any]], bool]

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
    if comparator == "starts_with":  # Harper's NoSQL walks the index of strings: a number never starts with
        text = str(value)
        return lambda row: isinstance(v := get(row), str) and v.startswith(text)
    if comparator == "text_starts_with":  # SQL's LIKE 'x%': any scalar, as text
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
    """The shard-side filter of a scan spec, compiled once per scan: a condition tree (the NoSQL searches)
    or an SQL WHERE as text (``where``: SQL's, evaluated by :mod:`pipeline.query.expr`)."""
    tree, where = spec.get("conditions"), spec.get("where")
    if where:
        return compile_where(where)
    return _compile(tree) if tree else None
