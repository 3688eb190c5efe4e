"""JSON bytes for records and payloads, and the order-preserving encoding of primary keys.

orjson is fast but stops at 64-bit integers (and reads longer ones as
floats); Harper's rounding of big integers is a bug we do not copy. So what
orjson refuses is written by the standard library behind one leading space
(still valid JSON), and that space tells ``loads`` to read it back exactly.
"""
from __future__ import annotations

import json
import math
import struct
from typing import Any

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


# ---- primary keys ------------------------------------------------------------------
# Keys sort the way Harper's index does: numbers (numerically) before strings.
_NUM = b"\x10"
_STR = b"\x20"
_SIGN = 1 << 63


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
    bits = struct.unpack(">Q", struct.pack(">d", as_float))[0]
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits & _SIGN else bits | _SIGN
    head = _NUM + bits.to_bytes(8, "big")
    if isinstance(value, int) and (abs(value) > 1 << 53):
        # beyond float precision: the exact digits keep distinct keys distinct
        return head + str(value).encode()
    return head


def decode_key(data: bytes) -> int | float | str:
    if data[:1] == _STR:
        return data[1:].decode()
    if len(data) > 9:
        return int(data[9:])
    bits = int.from_bytes(data[1:9], "big")
    bits = bits ^ _SIGN if bits & _SIGN else bits ^ 0xFFFFFFFFFFFFFFFF
    number = struct.unpack(">d", struct.pack(">Q", bits))[0]
    return int(number) if number.is_integer() else number
