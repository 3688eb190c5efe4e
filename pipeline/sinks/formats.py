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
import math
from itertools import islice
from operator import itemgetter
from typing import Any, BinaryIO, Callable, Iterable, Iterator

import fastavro

from .. import codec

HARPER_FORMATS = ("json", "csv")
EXTRA_FORMATS = ("ndjson", "avro")
FORMATS = HARPER_FORMATS + EXTRA_FORMATS

#: rows looked at to infer an Avro schema
AVRO_SAMPLE = 1000


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def js_number(value: float) -> str:
    """A float as JavaScript writes a number (Harper's CSV and JSON): the shortest digits that read back as it,
    as Python's ``repr`` finds them, laid out as ECMAScript's Number::toString does: plain from 1e-7 up to 1e21,
    with no ``.0`` on whole numbers and ``0`` for -0; else ``1.5e-7``, ``1e+21``."""
    text = repr(value)
    if "e" not in text and "n" not in text:  # 1e-4 <= |value| < 1e16, or 0: only whole numbers differ
        if text.endswith(".0"):
            return "0" if value == 0 else text[:-2]
        return text
    if value != value or value in (math.inf, -math.inf):
        return "null"  # as JSON.stringify; a stored row holds none (JSON has none), a computed value might
    # repr's exponent form: one digit, maybe a fraction, the exponent; the value is 0.<digits> x 10^n
    mantissa, _, exponent = text.lstrip("-").partition("e")
    digits = mantissa.replace(".", "").rstrip("0")
    k, n = len(digits), int(exponent) + 1
    sign = "-" if value < 0 else ""
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    return sign + digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if n > 0 else "-") + str(abs(n - 1))


def _nested(value: Any) -> str:
    return _quote(codec.dumps(value).decode().strip())


#: a cell of each JSON type, as json2csv writes it (strings and nested values quoted, null an empty cell)
_CELL = {str: _quote, int: str, float: js_number, bool: lambda v: "true" if v else "false",
         type(None): lambda v: "", dict: _nested, list: _nested}


def csv_cell(value: Any) -> str:
    return _CELL.get(type(value), _nested)(value)


def _quoted_column(values: tuple[str, ...]) -> list[str]:
    """A column of strings quoted at C speed: joined by a NUL, quotes doubled and the NULs turned into the
    quotes around each cell in one pass, then split (per cell, only where a string holds a NUL itself)."""
    joined = "\0".join(values)
    if joined.count("\0") != len(values) - 1:
        return list(map(_quote, values))
    return ('"' + joined.replace('"', '""').replace("\0", '"\0"') + '"').split("\0")


def _float_column(values: list[float]) -> list[str]:
    """Floats as JavaScript writes them: each distinct one written once where they repeat (the timestamps: one
    per write command), else their ``repr`` at C speed where no cell needs another layout (no exponent, no whole
    number, no -0), else cell by cell."""
    distinct = set(values)
    if len(distinct) * 4 <= len(values):
        return list(map(dict(zip(distinct, map(js_number, distinct))).__getitem__, values))
    texts = list(map(repr, values))
    joined = "\0".join(texts) + "\0"
    if "e" in joined or "n" in joined or ".0\0" in joined:
        return list(map(js_number, values))
    return texts


_BOOLS = {True: "true", False: "false"}
#: a column of one type made at C speed (or nearly): its cells
_COLUMN: dict[type, Callable[[list], Iterable[str]]] = {
    str: _quoted_column, int: lambda values: map(str, values), float: _float_column,
    bool: lambda values: map(_BOOLS.__getitem__, values)}
#: a value of each type standing in for the nulls of a column while it is made (then they are empty cells)
_STAND_IN = {str: "", int: 0, float: 0.5, bool: False}


def _column_cells(values: tuple[Any, ...]) -> Iterable[str]:
    """One column of a chunk of rows, as cells: a column of one type (nulls aside) at once, a mixed one cell by
    cell."""
    kinds = set(map(type, values))
    nulls = type(None) in kinds
    kinds.discard(type(None))
    make = _COLUMN.get(next(iter(kinds))) if len(kinds) == 1 else None
    if make is None:
        return map(csv_cell, values)
    if not nulls:
        return make(values)
    stand_in = _STAND_IN[next(iter(kinds))]
    cells = make([stand_in if value is None else value for value in values])
    return ["" if value is None else cell for cell, value in zip(cells, values)]


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
    further).

    Written a chunk of rows at a time, a column at a time: the chunk's rows as
    tuples of the header's values, turned into columns, each column's cells made
    at once where it holds one type (the usual case), and the lines joined back
    from the columns; one write per chunk.
    """
    rows = iter(rows)
    count = 0
    while chunk := list(islice(rows, TEXT_CHUNK)):
        if not count:
            columns = list(chunk[0]) if columns is None else columns
            out.write(",".join(map(_quote, columns)).encode())
        if len(columns) == 0:
            lines = [""] * len(chunk)
        else:
            try:
                values = list(map(itemgetter(*columns), chunk))
                if len(columns) == 1:  # itemgetter of one name: the value, not a tuple of it
                    values = [(value,) for value in values]
            except KeyError:  # a row without every attribute: its missing ones are empty cells
                values = [tuple(map(row.get, columns)) for row in chunk]
            lines = list(map(",".join, zip(*map(_column_cells, zip(*values)))))
        out.write(("\n" + "\n".join(lines)).encode())
        count += len(chunk)
    return count


def write_csv_texts(texts: Iterable[bytes], out: BinaryIO) -> int:
    """As :func:`write_csv`, of rows already encoded: a chunk of them decoded in one call."""
    return write_csv(_decoded(texts), out)


def _decoded(texts: Iterable[bytes]) -> Iterator[dict]:
    """Rows' JSON texts decoded a chunk at a time: one array read at C speed, unless a row needs the exact
    reading of a big integer (:func:`pipeline.codec.loads`)."""
    texts = iter(texts)
    while chunk := list(islice(texts, TEXT_CHUNK)):
        if any(text[:1] == b" " for text in chunk):
            yield from map(codec.loads, chunk)
        else:
            yield from codec.loads(b"[" + b",".join(chunk) + b"]")


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
TEXT_WRITERS = {"json": write_json_texts, "ndjson": write_ndjson_texts, "csv": write_csv_texts}


def render(fmt: str, rows: Iterable[dict]) -> bytes:
    """The whole export in memory: for tests and small results."""
    buffer = io.BytesIO()
    WRITERS[fmt](rows, buffer)
    return buffer.getvalue()

