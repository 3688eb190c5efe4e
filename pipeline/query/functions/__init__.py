"""Harper's SQL functions, one definition each, used by the row evaluator (:mod:`pipeline.query.expr`, on the
shards and for a SELECT without FROM) and registered as DuckDB functions for the final stage
(:mod:`pipeline.query.sql`).

A function takes and returns JSON values (None for SQL's NULL); ``returns`` tells DuckDB the type of its
result. Harper's SQL engine is AlaSQL with Harper's additions: the date functions follow moment.js, the geo
functions turf.js (:mod:`.dates`, :mod:`.geo`; the rest in :mod:`.scalars`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from . import dates, geo, scalars


@dataclass(frozen=True)
class Function:
    name: str
    call: Callable[..., Any]
    #: the DuckDB type of the result: DOUBLE, VARCHAR, BOOLEAN or JSON
    returns: str
    min_args: int
    max_args: int
    #: a different value on each call (NOW(), RANDOM()): never folded into a constant
    volatile: bool = False


def _forgiving(call: Callable[..., Any]) -> Callable[..., Any]:
    """A function given values it cannot use answers NULL (AlaSQL's undefined), as Harper's do: a row
    with a malformed geometry or date is not an error of the statement."""
    def forgiving(*args: Any) -> Any:
        try:
            return call(*args)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, ArithmeticError):
            return None
    return forgiving


def _table() -> dict[str, Function]:
    out: dict[str, Function] = {}
    for module in (scalars, dates, geo):
        for name, (call, returns, low, high, volatile) in module.FUNCTIONS.items():
            out[name.lower()] = Function(name.lower(), _forgiving(call), returns, low, high, volatile)
    return out


FUNCTIONS: dict[str, Function] = _table()


def lookup(name: str) -> Function | None:
    return FUNCTIONS.get(name.lower())
