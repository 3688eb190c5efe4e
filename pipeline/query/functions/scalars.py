"""AlaSQL's scalar functions that Harper's SQL offers: text, numbers, nulls.

Only those the evaluator needs to have (the DML's SET and WHERE, a SELECT without FROM, a pushed-down
WHERE); the final stage has DuckDB's own for the rest of a SELECT.
"""
from __future__ import annotations

import math
import random
from typing import Any


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _integral(value: float) -> int | float:
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53 else value


def upper(value: Any) -> str | None:
    return value.upper() if isinstance(value, str) else None if value is None else str(value).upper()


def lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None if value is None else str(value).lower()


def _math(fn: Any) -> Any:
    def call(value: Any) -> Any:
        number = _number(value)
        return None if number is None else _integral(float(fn(number)))
    return call


def round_(value: Any, digits: Any = 0) -> Any:
    number = _number(value)
    if number is None:
        return None
    places = int(digits or 0)
    scaled = number * 10 ** places
    return _integral(math.floor(scaled + 0.5) / 10 ** places)  # JavaScript's Math.round: halves go up


def random_() -> float:
    return random.random()


def concat(*values: Any) -> str:
    return "".join("" if v is None else str(v) for v in values)


def length(value: Any) -> int | None:
    return len(value) if isinstance(value, str) else None


def coalesce(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def trim(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) else None


#: name: (function, DuckDB result type, fewest arguments, most arguments, volatile)
FUNCTIONS = {
    "upper": (upper, "VARCHAR", 1, 1, False),
    "ucase": (upper, "VARCHAR", 1, 1, False),
    "lower": (lower, "VARCHAR", 1, 1, False),
    "lcase": (lower, "VARCHAR", 1, 1, False),
    "floor": (_math(math.floor), "DOUBLE", 1, 1, False),
    "ceil": (_math(math.ceil), "DOUBLE", 1, 1, False),
    "ceiling": (_math(math.ceil), "DOUBLE", 1, 1, False),
    "abs": (_math(abs), "DOUBLE", 1, 1, False),
    "sqrt": (_math(math.sqrt), "DOUBLE", 1, 1, False),
    "round": (round_, "DOUBLE", 1, 2, False),
    "random": (random_, "DOUBLE", 0, 0, True),
    "rand": (random_, "DOUBLE", 0, 0, True),
    "concat": (concat, "VARCHAR", 1, 8, False),
    "length": (length, "DOUBLE", 1, 1, False),
    "len": (length, "DOUBLE", 1, 1, False),
    "coalesce": (coalesce, "JSON", 1, 8, False),
    "ifnull": (coalesce, "JSON", 2, 2, False),
    "trim": (trim, "VARCHAR", 1, 1, False),
}
