"""Export formats, written as rows arrive: Harper's JSON and CSV, plus NDJSON and Avro.

A writer takes rows one at a time and writes to a binary stream, so an export
of any size uses little memory. CSV is json2csv's as Harper uses it: the
header is the first row's attributes, every label and string double-quoted
with quotes doubled, numbers and booleans bare, null an empty cell, objects
and arrays as compact JSON text (quoted), ``\\n`` between lines and none at
the end.
"""
from __future__ import annotations

import io
from itertools import islice
from typing import Any, BinaryIO, Iterable, Iterator

import fastavro

from .. import codec

HARPER_FORMATS = ("json", "csv")
EXTRA_FORMATS = ("ndjson", "avro")
FORMATS = HARPER_FORMATS + EXTRA_FORMATS

#: rows looked at to infer an Avro schema
AVRO_SAMPLE = 1000


def _quote(text: str) -> bytes:
    return b'"' + text.replace('"', '""').encode() + b'"'


def csv_cell(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, (int, float)):
        return codec.dumps(value).strip()
    if isinstance(value, str):
        return _quote(value)
    return _quote(codec.dumps(value).decode().strip())


def write_json(rows: Iterable[dict], out: BinaryIO) -> int:
    count = 0
    out.write(b"[")
    for row in rows:
        if count:
            out.write(b",")
        out.write(codec.dumps(row).lstrip())
        count += 1
    out.write(b"]")
    return count


def write_ndjson(rows: Iterable[dict], out: BinaryIO) -> int:
    count = 0
    for row in rows:
        out.write(codec.dumps(row).lstrip() + b"\n")
        count += 1
    return count


#: rows joined into one write by the writers of JSON texts
TEXT_CHUNK = 1000


def _chunks(texts: Iterable[bytes]) -> Iterator[list[bytes]]:
    """The rows' JSON texts a chunk at a time, each without the leading space of :func:`codec.dumps`'s exact form."""
    texts = iter(texts)
    while chunk := list(islice(texts, TEXT_CHUNK)):
        yield list(map(bytes.lstrip, chunk))


def write_json_texts(texts: Iterable[bytes], out: BinaryIO) -> int:
    """As :func:`write_json`, of rows already encoded (a scan's rows as the shards sent them)."""
    count = 0
    out.write(b"[")
    for chunk in _chunks(texts):
        out.write(b"," + b",".join(chunk) if count else b",".join(chunk))
        count += len(chunk)
    out.write(b"]")
    return count


def write_ndjson_texts(texts: Iterable[bytes], out: BinaryIO) -> int:
    """As :func:`write_ndjson`, of rows already encoded."""
    count = 0
    for chunk in _chunks(texts):
        chunk.append(b"")
        out.write(b"\n".join(chunk))
        count += len(chunk) - 1
    return count


def write_csv(rows: Iterable[dict], out: BinaryIO, columns: list[str] | None = None) -> int:
    """``columns``: the header; by default the first row's attributes (an export streams, so it cannot look
    further)."""
    count = 0
    for row in rows:
        if not count:
            columns = list(row) if columns is None else columns
            out.write(b",".join(_quote(c) for c in columns))
        out.write(b"\n" + b",".join(csv_cell(row.get(c)) for c in columns))
        count += 1
    return count


_AVRO_TYPES = {bool: "boolean", int: "long", float: "double", str: "string"}


def _avro_name(name: str) -> str:
    """Avro field names are [A-Za-z_][A-Za-z0-9_]*; anything else becomes "_"."""
    cleaned = "".join(c if c.isalnum() and c.isascii() or c == "_" else "_" for c in name)
    return cleaned if cleaned and not cleaned[0].isdigit() else "_" + cleaned


def infer_avro_schema(sample: list[dict]) -> tuple[dict, dict[str, str]]:
    """A record schema from sample rows: each field a union of null and the types seen (nested values as JSON text)."""
    seen: dict[str, set[str]] = {}
    for row in sample:
        for name, value in row.items():
            kinds = seen.setdefault(name, set())
            if value is not None:
                kinds.add(_AVRO_TYPES.get(type(value), "string"))
    names = {name: _avro_name(name) for name in seen}
    order = ["boolean", "long", "double", "string"]
    fields = []
    for name, kinds in seen.items():
        if "long" in kinds and "double" in kinds:
            kinds.discard("long")
        union = ["null", *sorted(kinds or {"string"}, key=order.index)]
        fields.append({"name": names[name], "type": union, "default": None, "aliases": [name] if names[name] != name else []})
    return {"type": "record", "name": "Row", "namespace": "harper.pipeline.export", "fields": fields}, names


def _avro_value(value: Any, union: list[str]) -> Any:
    if value is None:
        return None
    kind = _AVRO_TYPES.get(type(value))
    if kind in union:
        return value
    if kind == "long" and "double" in union and abs(value) < 2 ** 53:
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool) and kind == "long" and "long" in union:
        return value
    if "string" in union:
        return value if isinstance(value, str) else codec.dumps(value).decode().strip()
    raise ValueError(f"a value of type {type(value).__name__} does not fit the inferred Avro type {union}")


def write_avro(rows: Iterable[dict], out: BinaryIO) -> int:
    iterator = iter(rows)
    sample = []
    for row in iterator:
        sample.append(row)
        if len(sample) >= AVRO_SAMPLE:
            break
    schema, names = infer_avro_schema(sample)
    unions = {f["name"]: f["type"] for f in schema["fields"]}
    parsed = fastavro.parse_schema(schema)
    count = 0

    def records() -> Iterable[dict]:
        nonlocal count
        for source in (sample, iterator):
            for row in source:
                count += 1
                yield {names[k]: _avro_value(v, unions[names[k]]) for k, v in row.items() if k in names}

    fastavro.writer(out, parsed, records(), codec="deflate")
    return count


WRITERS = {"json": write_json, "csv": write_csv, "ndjson": write_ndjson, "avro": write_avro}
#: the formats written from the rows' JSON texts as they are
TEXT_WRITERS = {"json": write_json_texts, "ndjson": write_ndjson_texts}


def render(fmt: str, rows: Iterable[dict]) -> bytes:
    """The whole export in memory: for tests and small results."""
    buffer = io.BytesIO()
    WRITERS[fmt](rows, buffer)
    return buffer.getvalue()

