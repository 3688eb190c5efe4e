"""Harper's typing of CSV cells (``autoCast`` and ``autoCastJSONDeep``), in one place.

- ``""`` stays ``""``; ``true``/``TRUE`` and ``false``/``FALSE`` are booleans
  (``False`` stays a string); ``null``/``NULL``/``undefined`` are null.
- A number is converted when it is a finite decimal number (surrounding
  whitespace and a leading ``+`` allowed) with no exponent, and does not start
  with ``0`` unless it is ``0`` or starts with ``0.``: ``007`` and ``1e3`` stay
  strings, ``-007`` is -7. Integers stay exact at any size (Harper rounds
  above 2^53: a bug we do not copy).
- A full ISO-8601 date-time with a zone is a Date in Harper; it is kept as the
  text JavaScript's ``Date.toISOString()`` prints for it.
- A cell that looks like a JSON object or array is parsed when it parses (and refused when it nests
  deeper than :data:`pipeline.codec.MAX_DEPTH`).

:func:`type_column` applies the same rules to a whole column at once: one C-speed pass (a regular
expression over the column's cells joined, or a set test) recognises the common columns (all plain
strings, all integers, all decimal numbers, digit codes some with a leading zero, all booleans) and
converts them with ``map``; only the cells of a mixed column that may change go through
:func:`type_cell`.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Sequence

from . import codec
from .errors import PipelineError

_NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)\s*")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})")
WORDS: dict[str, Any] = {"true": True, "TRUE": True, "false": False, "FALSE": False,
                          "null": None, "NULL": None, "undefined": None,
                          # NaN is a number in JavaScript but has no JSON form: null is what a reader gets
                          "NaN": None}
_NUMERIC_START = frozenset("0123456789+-. \t\n\r")


def _number(text: str) -> int | float | None:
    if _NUMBER.fullmatch(text) is None:
        return None
    if text[0] == "0" and text != "0" and not text.startswith("0."):
        return None
    stripped = text.strip()
    if "." not in stripped:
        return int(stripped)
    whole, _, fraction = stripped.partition(".")
    if not fraction.strip("0"):
        # "5." and "5.0" are the number 5, which JSON writes as 5
        return int(whole) if whole.lstrip("+-") else 0
    number = float(stripped)
    return int(number) if number.is_integer() else number


def _iso(text: str) -> str | None:
    if _DATETIME.fullmatch(text) is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def auto_cast(value: str) -> Any:
    """Harper's ``autoCast`` of one cell."""
    if not value:
        return value
    if value in WORDS:
        return WORDS[value]
    first = value[0]
    if first in _NUMERIC_START:
        number = _number(value)
        if number is not None:
            if number == 0 and isinstance(number, int):
                return 0  # "-0" is 0
            return number
    if first.isdigit() and len(value) >= 20 and value[4] == "-":
        iso = _iso(value)
        if iso is not None:
            return iso
    return value


class CellError(PipelineError):
    """A value that cannot be stored: it nests deeper than :data:`pipeline.codec.MAX_DEPTH`."""


def cast_json_deep(value: Any) -> Any:
    """Harper's ``autoCastJSONDeep``: parse strings that look like JSON objects or arrays, at any depth.

    Raises CellError when the value (parsed) nests deeper than the limit.
    """
    if codec.nesting_exceeds(value):
        raise CellError(codec.NESTED_TOO_DEEP)
    try:
        cast = _cast_json_deep(value)
    except RecursionError:  # JSON inside JSON inside JSON...: deeper than anything the limit allows
        raise CellError(codec.NESTED_TOO_DEEP) from None
    if cast is not value and codec.nesting_exceeds(cast):
        raise CellError(codec.NESTED_TOO_DEEP)
    return cast


def _cast_json_deep(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) >= 2 and ((value[0] == "{" and value[-1] == "}") or (value[0] == "[" and value[-1] == "]")):
            try:
                return _cast_json_deep(json.loads(value))
            except ValueError:
                return value
        return value
    if isinstance(value, list):
        return [_cast_json_deep(v) for v in value]
    if isinstance(value, dict):
        return {k: _cast_json_deep(v) for k, v in value.items()}
    return value


def type_cell(value: str) -> Any:
    """What every CSV load does to a cell."""
    typed = auto_cast(value)
    if isinstance(typed, str) and typed and typed[0] in "{[":
        return cast_json_deep(typed)
    return typed


# ---- whole columns ------------------------------------------------------------------
#: cells are joined with NUL, each after one, to be matched at once: a CSV source refuses NUL bytes, so no
#: cell holds one (and a pattern starting with the literal NUL is searched for fast)
_JOIN = "\x00"
#: the first characters of a cell that typing may change (a number, a date, JSON); a cell starting otherwise
#: changes only if it is one of :data:`WORDS`
SPECIAL_START = _NUMERIC_START | frozenset("{[")
#: what a cell starting specially looks like in the joined column (str.find is a fast search, a regular
#: expression's character class after NUL tries every cell)
_SPECIAL_MARKS = tuple(_JOIN + first for first in sorted(SPECIAL_START))
#: integers that fit 64 bits, written the one way ``int()`` and Harper agree on (no sign "+", no leading zero)
_INTS = re.compile(r"(?:\x00-?(?:0|[1-9][0-9]{0,17}))+")
#: decimal numbers whose whole part float() holds exactly (below 2^53), so float() then int() for the integral
#: ones gives what :func:`_number` gives
_DECIMALS = re.compile(r"(?:\x00-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]+)?)+")
#: cells of ASCII digits only: integers, but those with a leading zero ("04914") stay strings
_DIGIT_STRINGS = re.compile(r"(?:\x00[0-9]{1,18})+")
_BOOLEANS = frozenset(("true", "TRUE", "false", "FALSE"))
_DIGITS_1_9 = frozenset("123456789")
#: a mixed column with at most this share of distinct cells is typed once per distinct cell
_REPEATED = 4


def _decimal(number: float) -> int | float:
    return int(number) if number.is_integer() else number


def _mixed_cell(value: str) -> Any:
    """:func:`type_cell`, with the common cells of a mixed column decided first."""
    if not value:
        return value
    if value[0] not in SPECIAL_START:
        return WORDS[value] if value in WORDS else value
    if value[0] in _DIGITS_1_9 and len(value) < 19 and value.isdigit() and value.isascii():
        return int(value)
    return type_cell(value)


def type_column(cells: Sequence[str]) -> Sequence[Any]:
    """:func:`type_cell` of every cell of a column (raises CellError as it does)."""
    if not cells:
        return cells
    joined = _JOIN + _JOIN.join(cells)
    if not any(map(joined.__contains__, _SPECIAL_MARKS)):
        if WORDS.keys().isdisjoint(cells):
            return cells  # plain strings (and empty cells) stay as they are
    elif _INTS.fullmatch(joined) is not None:
        return list(map(int, cells))
    elif _DECIMALS.fullmatch(joined) is not None:
        numbers = list(map(float, cells))
        return list(map(_decimal, numbers)) if any(map(float.is_integer, numbers)) else numbers
    elif _DIGIT_STRINGS.fullmatch(joined) is not None:  # codes, zip codes: some with a leading zero
        return [cell if cell[0] == "0" and cell != "0" else int(cell) for cell in cells]
    if _BOOLEANS.issuperset(cells):
        return list(map(WORDS.__getitem__, cells))
    distinct = set(cells)
    if len(distinct) * _REPEATED <= len(cells):
        typed = {cell: _mixed_cell(cell) for cell in distinct}
        # a list or an object parsed from JSON is not shared between records
        if not any(isinstance(value, (list, dict)) for value in typed.values()):
            return list(map(typed.__getitem__, cells))
    return list(map(_mixed_cell, cells))
