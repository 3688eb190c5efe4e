"""JSON bytes for records and payloads, and the order-preserving encoding of primary keys.

orjson is fast but stops at 64-bit integers (and reads longer ones as
floats); Harper's rounding of big integers is a bug we do not copy. So what
orjson refuses is written by the standard library behind one leading space
(still valid JSON), and that space tells ``loads`` to read it back exactly.
"""
from __future__ import annotations

import json
import math
import operator
import struct
from itertools import repeat
from typing import Any, Iterable, NamedTuple

import orjson

from .errors import PipelineError

_OPTS = orjson.OPT_NON_STR_KEYS


def dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj, option=_OPTS)
    except TypeError:
        return b" " + json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def loads(data: bytes) -> Any:
    if data[:1] == b" ":
        return json.loads(data)
    return orjson.loads(data)


#: the deepest a value may nest (objects and arrays within each other), as in MongoDB: the JSON encoders recurse,
#: and orjson stops at 254 levels, the standard library's encoder at about 1,000
MAX_DEPTH = 100
#: Ours: Harper fails a record nested some thousands of levels deep with a 500 (a stack overflow)
NESTED_TOO_DEEP = f"the value is nested more than {MAX_DEPTH} levels deep (the most a value may nest)"


def nesting_exceeds(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests objects and arrays more than ``limit`` levels deep (checked without recursing)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


# ---- stored rows ---------------------------------------------------------------------
CREATED = "__createdtime__"
UPDATED = "__updatedtime__"
_TIMES = (CREATED, UPDATED)


class RowBytes(NamedTuple):
    """A row encoded once, as a shard stores it (the export's canonical order: the primary key, the two
    timestamps, the other attributes sorted by name), split where the timestamps go, so that a writer
    storing a new row splices them in without decoding it.

    ``head`` is ``{"<primary key>":<value>``; ``tail`` is ``,"<name>":<value>...}`` or ``}``; ``exact``:
    either needs the exact form of a big integer (see :func:`dumps`), which the stored value then takes.
    """

    head: bytes
    tail: bytes
    exact: bool

    def stored(self, times: bytes) -> bytes:
        """The value a shard stores, with ``times`` from :func:`stored_times`."""
        return (b" " if self.exact else b"") + self.head + times + self.tail

    def record(self) -> dict[str, Any]:
        """The row decoded (without the timestamps)."""
        return loads((b" " if self.exact else b"") + self.head + self.tail)


class KeyedRows(NamedTuple):
    """The rows of a write with their encoded keys, as columns: row ``i`` is ``keys[i]`` and the
    :class:`RowBytes` ``(heads[i], tails[i], exact[i])``. Columns, not a tuple per row, so that a writer
    builds the stored keys and values of a whole write with a few C-level maps."""

    keys: list[bytes]
    heads: list[bytes]
    tails: list[bytes]
    exact: bytes  # a byte per row: 1 where RowBytes.exact

    @classmethod
    def of(cls, rows: Iterable[tuple[bytes, RowBytes]]) -> "KeyedRows":
        pairs = list(rows)
        return cls([key for key, _ in pairs], [row.head for _, row in pairs], [row.tail for _, row in pairs],
                   bytes(row.exact for _, row in pairs))

    def row(self, index: int) -> RowBytes:
        return RowBytes(self.heads[index], self.tails[index], bool(self.exact[index]))


def stored_times(created: float, updated: float) -> bytes:
    """The two timestamps' members, as :meth:`RowBytes.stored` splices them in."""
    return b',"' + CREATED.encode() + b'":' + orjson.dumps(created) + b',"' + UPDATED.encode() + b'":' + \
        orjson.dumps(updated)


#: the order of the other attributes, by the record's names and its primary key: the records of one load
#: share a few
_ORDERS: dict[tuple[tuple[str, ...], str], tuple[str, ...]] = {}
_ORDERS_KEPT = 1024


def _order(names: tuple[str, ...], primary_key: str) -> tuple[str, ...]:
    order = _ORDERS.get((names, primary_key))
    if order is None:
        if len(_ORDERS) >= _ORDERS_KEPT:
            _ORDERS.clear()
        order = _ORDERS[names, primary_key] = tuple(sorted(
            name for name in names if name != primary_key and name not in _TIMES))
    return order


def stored_names(names: Iterable[str], primary_key: str) -> list[str]:
    """The members of a row with the attributes ``names``, in the order a shard stores them (the order
    :func:`row_bytes` gives, the timestamps spliced in): the key, the two timestamps, the rest sorted."""
    return [primary_key, *_TIMES, *_order(tuple(names), primary_key)]


_SORTED = _OPTS | orjson.OPT_SORT_KEYS
_KEY_NAMES: dict[str, bytes] = {}
_tuple_new = tuple.__new__  # builds a RowBytes without its Python-level __new__


def _key_name(primary_key: str) -> bytes:
    name = _KEY_NAMES.get(primary_key)
    if name is None:
        name = _KEY_NAMES[primary_key] = b"{" + orjson.dumps(primary_key) + b":"
    return name


def row_bytes(record: dict[str, Any], primary_key: str) -> RowBytes:
    """``record`` (its key normalized) as a shard stores it, less the timestamps, which a writer sets: any the
    record has are left out. Only the row's own attributes are sorted; objects in its values keep their order.
    """
    value = dumps(record[primary_key])
    order = _order(tuple(record), primary_key)
    body = dumps(dict(zip(order, map(record.__getitem__, order))))
    exact = value[:1] == b" " or body[:1] == b" "
    body = body.lstrip(b" ")
    return RowBytes(_key_name(primary_key) + value.lstrip(b" "), b"," + body[1:] if len(body) > 2 else b"}", exact)


def rows_bytes(records: list[dict[str, Any]], primary_key: str) -> list[RowBytes]:
    """:func:`row_bytes` of each record, for all of them at once at C speed where that gives the same bytes.

    The records (without their keys, taken out and put back: a key ends up
    last) are encoded in one call with orjson sorting the names (by their UTF-8
    bytes: ``sorted()``'s order). That output is cut into rows only when it
    holds one ``{`` per record, so no object in a value (which orjson would
    sort too), no string holding ``{`` and no empty record, and names neither
    timestamp; else, and for integers beyond 64 bits, each record is encoded
    on its own.
    """
    if not records:
        return []
    keys = list(map(dict.pop, records, repeat(primary_key)))
    try:
        body = orjson.dumps(records, option=_SORTED)
        values = list(map(orjson.dumps, keys))
    except TypeError:  # an integer beyond 64 bits
        body = b""
    finally:
        list(map(dict.__setitem__, records, repeat(primary_key), keys))
    if body.count(b"{") != len(records) or b"{}" in body or b'"__createdtime__":' in body \
            or b'"__updatedtime__":' in body:
        return [row_bytes(record, primary_key) for record in records]
    # [{A},{B}] -> ",A}", ",B}"
    tails = (b"," + body[2:-1].replace(b"},{", b"}\x00,")).split(b"\x00")
    heads = map(_key_name(primary_key).__add__, values)
    return list(map(_tuple_new, repeat(RowBytes), zip(heads, tails, repeat(False))))


# ---- primary keys ------------------------------------------------------------------
# Keys sort the way Harper's index does: numbers (numerically) before strings.
_NUM = b"\x10"
_STR = b"\x20"
_SIGN = 1 << 63
_DOUBLE = struct.Struct(">d")
_U64 = struct.Struct(">Q")


class InvalidKey(PipelineError):
    """A primary key value of a type Harper does not accept."""


def normalize_key(value: Any) -> int | float | str:
    """The canonical form of a key: 1.0 and 1 are the same key, as in Harper."""
    if isinstance(value, bool) or value is None:
        raise InvalidKey(f"Invalid primary key type: {type(value).__name__}")
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise InvalidKey(f"Invalid primary key value: {value}")
        return int(value) if value.is_integer() else value
    if isinstance(value, (int, str)):
        return value
    raise InvalidKey(f"Invalid primary key type: {type(value).__name__}")


def encode_key(value: int | float | str) -> bytes:
    """Bytes whose order is the key order. Call with a normalized key."""
    if isinstance(value, str):
        return _STR + value.encode()
    as_float = float(value) if abs(value) < 1 << 1023 else math.copysign(math.inf, value)
    bits = _U64.unpack(_DOUBLE.pack(as_float))[0]
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits & _SIGN else bits | _SIGN
    head = _NUM + _U64.pack(bits)
    if isinstance(value, int) and (abs(value) > 1 << 53):
        # beyond float precision: the exact digits keep distinct keys distinct
        return head + str(value).encode()
    return head


def normalize_keys(values: list[Any]) -> list[int | float | str]:
    """:func:`normalize_key` of each value (a column of integers, the usual keys, as it is)."""
    if set(map(type, values)) == {int}:
        return values
    return list(map(normalize_key, values))


_EXACT_FLOATS = 1 << 53
#: what each key's double is XORed with: its sign bit set for a number not below 0, every bit flipped below 0
_FLIP = {False: _U64.pack(_SIGN), True: b"\xff" * 8}


def encode_keys(values: list[int | float | str]) -> list[bytes]:
    """:func:`encode_key` of each normalized value; numbers that a double holds exactly (integers to 2^53)
    all at once, at C speed: packed as doubles, their sign bits turned as encode_key turns them."""
    count = len(values)
    if not count or not set(map(type, values)) <= {int, float} or \
            not -_EXACT_FLOATS <= min(values) <= max(values) <= _EXACT_FLOATS:
        return list(map(encode_key, values))
    doubles = int.from_bytes(struct.pack(f">{count}d", *values), "big")
    flips = int.from_bytes(b"".join(map(_FLIP.__getitem__, map(operator.lt, values, repeat(0)))), "big")
    packed = (doubles ^ flips).to_bytes(8 * count, "big")
    return list(map(_NUM.__add__, map(packed.__getitem__, map(slice, range(0, 8 * count, 8),
                                                               range(8, 8 * count + 8, 8)))))


def decode_key(data: bytes) -> int | float | str:
    if data[:1] == _STR:
        return data[1:].decode()
    if len(data) > 9:
        return int(data[9:])
    bits = int.from_bytes(data[1:9], "big")
    bits = bits ^ _SIGN if bits & _SIGN else bits ^ 0xFFFFFFFFFFFFFFFF
    number = struct.unpack(">d", struct.pack(">Q", bits))[0]
    return int(number) if number.is_integer() else number
