"""The Operations API's media types: bodies read as JSON, MessagePack or CBOR, answers written as ``Accept`` asks.

As Harper's operations server: a request body is read by its Content-Type
(``application/x-msgpack``, ``application/cbor``; anything else as JSON), and
the answer, an error's included, is written in the first type of ``Accept``
(by quality) that it writes: ``application/json``, ``application/cbor``,
``application/x-msgpack`` or ``text/csv``; JSON when there is no ``Accept``
or it says ``*/*``. An ``Accept`` with none of them is a 406.

A body may carry only what JSON can: a binary value or an unknown extension
type is refused (400), a date becomes the text Harper prints for it.
MessagePack has no integers beyond 64 bits: such a value is answered as a
float there (JSON and CBOR keep it exact).
"""
from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import cbor2
import msgpack

from . import codec
from .contract.dates import iso_ms
from .errors import PipelineError
from .sinks.formats import write_csv

JSON = "application/json"
MSGPACK = "application/x-msgpack"
CBOR = "application/cbor"
CSV = "text/csv"
#: what an answer can be written as, in the order Harper lists them
WRITTEN = (JSON, CBOR, MSGPACK, CSV)
#: the Content-Type each is answered with
CONTENT_TYPES = {JSON: "application/json", CBOR: CBOR, MSGPACK: MSGPACK, CSV: "text/csv; charset=utf-8"}
_READ = {"application/x-msgpack": MSGPACK, "application/msgpack": MSGPACK, "application/vnd.msgpack": MSGPACK,
         "application/cbor": CBOR}
_NAMES = {MSGPACK: "MessagePack", CBOR: "CBOR"}


class BodyError(PipelineError):
    """A request body that cannot be read in its media type; the message says why (a 400)."""


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def body_type(content_type: str | None) -> str:
    """The media type a request body is read as, by its Content-Type: MessagePack, CBOR, or else JSON."""
    return _READ.get(_media_type(content_type), JSON)


def decode(body: bytes, content_type: str | None) -> Any:
    """The request body as JSON-like values; raises BodyError. An empty body is None."""
    kind = body_type(content_type)
    if not body:
        return None
    if kind == JSON:
        try:
            return codec.loads(body)
        except ValueError:
            raise BodyError("Invalid JSON.") from None
    try:
        if kind == MSGPACK:
            value = msgpack.unpackb(body, raw=False, timestamp=3, strict_map_key=False)
        else:
            stream = io.BytesIO(body)
            value = cbor2.CBORDecoder(stream).decode()
            if stream.tell() != len(body):
                raise ValueError(f"{len(body) - stream.tell()} bytes follow the value")
        return _json_like(value)
    except BodyError:
        raise
    except Exception as err:  # noqa: BLE001 - the codecs raise many kinds; each is the body's fault
        raise BodyError(f"The request body is not valid {_NAMES[kind]}: {err}") from None


def _json_like(value: Any) -> Any:
    """``value`` with dates as Harper prints them; refused if it holds what JSON cannot (bytes, other types)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict):
        return {_key(k): _json_like(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_like(v) for v in value]
    if isinstance(value, datetime):
        return iso_ms(value.timestamp() * 1000.0)
    if value is cbor2.undefined:
        return None
    raise BodyError(f"The request body holds a value of a type JSON has no form for ({type(value).__name__}); "
                    "send text, numbers, booleans, null, arrays and maps")


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, (int, float)) and not isinstance(key, bool):
        return codec.dumps(key).decode().strip()  # as JSON would name it
    raise BodyError(f"The request body has a map key that is not text ({type(key).__name__})")


def negotiate(accept: str | None) -> str | None:
    """The media type to answer in for an ``Accept`` header; None when none of them can be written."""
    if not accept or not accept.strip():
        return JSON
    offered = []
    for position, part in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        quality = 1.0
        for param in params:
            name, _, number = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(number)
                except ValueError:
                    quality = 0.0
        offered.append((-quality, position, media.lower()))
    for negative_quality, _, media in sorted(offered):
        if negative_quality >= 0:
            break  # q=0: not acceptable
        if media in ("*/*", "application/*"):
            return JSON
        if media in WRITTEN:
            return media
    return None


def not_acceptable() -> dict:
    """Harper's 406 body (written as JSON: there is nothing else the client accepts)."""
    return {"statusCode": 406, "error": "Not Acceptable",
            "message": "No supported content types found in Accept header, supported types include: "
                       + ", ".join(WRITTEN) + ", */*"}


def encode(answer: Any, media: str) -> bytes:
    """An answer (or an error's body) in ``media``."""
    if media == MSGPACK:
        try:
            return msgpack.packb(answer, use_bin_type=True)
        except OverflowError:
            return msgpack.packb(_wide_ints_as_floats(answer), use_bin_type=True)
    if media == CBOR:
        return cbor2.dumps(answer)
    if media == CSV:
        return _csv(answer)
    return codec.dumps(answer)


def _wide_ints_as_floats(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and not -(1 << 63) <= value < (1 << 64):
        return float(value)
    if isinstance(value, dict):
        return {k: _wide_ints_as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wide_ints_as_floats(v) for v in value]
    return value


def _csv(answer: Any) -> bytes:
    """An array of records as CSV (an object is one record): the columns are every record's attributes, in the
    order they first appear; nested values are JSON text, as in an export."""
    rows = answer if isinstance(answer, list) else [answer]
    rows = [row if isinstance(row, dict) else {"value": row} for row in rows]
    columns = list(dict.fromkeys(name for row in rows for name in row))
    buffer = io.BytesIO()
    write_csv(rows, buffer, columns)
    return buffer.getvalue()
