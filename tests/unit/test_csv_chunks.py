"""The chunk reader against the line reader: the same records, batches, resume points and errors, row by row.

The line reader (``_line_batches``) is the reference: it reads the whole
file when the chunk reader is switched off here. Harper's Northwind CSVs and
generated hostile files are read both ways, with chunks small enough that
records, quoted line breaks and batches straddle their edges.
"""
from __future__ import annotations

import io
import random

import pytest

from harness import SHARED
from pipeline.sources import chunks, csv as source
from pipeline.sources.csv import CsvError, read_batches


def _line_reader_only(stream, rest, point, *args):
    """A chunk reader that hands everything over at once."""
    return point, rest
    yield  # a generator, as the real one


def _read(data: bytes, batch_size: int, **options) -> list[tuple[list[dict], int, source.ResumePoint]]:
    return [(b.records, b.first_line, b.resume) for b in read_batches(io.BytesIO(data), batch_size, **options)]


def _both(data: bytes, batch_size: int, monkeypatch, **options):
    chunked = _read(data, batch_size, **options)
    with monkeypatch.context() as patch:
        patch.setattr(source, "chunk_batches", _line_reader_only)
        lines = _read(data, batch_size, **options)
    return chunked, lines


def _assert_same(chunked, lines):
    assert [r for b in chunked for r in b[0]] == [r for b in lines for r in b[0]]  # row by row first
    for got, want in zip(chunked, lines):
        assert got[0] == want[0] and [type(v) for r in got[0] for v in r.values()] == \
            [type(v) for r in want[0] for v in r.values()]
        assert got[1:] == want[1:]
    assert len(chunked) == len(lines)


@pytest.mark.parametrize("name", sorted(p.name for p in (SHARED / "harper-suite" / "data").glob("*.csv")))
def test_northwind_reads_the_same(name, monkeypatch):
    data = (SHARED / "harper-suite" / "data" / name).read_bytes()
    monkeypatch.setattr(chunks, "CHUNK", 4096)
    for batch_size in (1, 7, 1000):
        _assert_same(*_both(data, batch_size, monkeypatch))


CELLS = ["1", "-0", "007", "-007", "+5", " 5 ", "1e3", "5.", "5.0", "0.5", "00.5", "-0.0", "1.25", ".5",
         "12345678901234567890", "123456789012345678.5", "NaN", "null", "NULL", "undefined", "true", "FALSE",
         "False", "", "x", "café", "São Paulo", "日本", "a\u2028b", "page\x0cbreak", '{"a": [1, 2]}', "[1, 2",
         "[]", "2020-01-01T00:00:00Z", "2020-01-01T00:00:00.123+02:00", "line\nbreak", "cr\rlf\r\n",
         'say "hi"', "a,b", "\ttab", "٣", "²", "9" * 30, "0.1" + "0" * 20]


def _cell(rnd: random.Random) -> str:
    cell = rnd.choice(CELLS)
    if any(c in cell for c in ',"\n\r') or rnd.random() < 0.1:
        return '"' + cell.replace('"', '""') + '"'
    return cell


def _hostile(seed: int, rows: int, ending: str) -> bytes:
    rnd = random.Random(seed)
    out = ["id,a,a,b,c" + ending]
    for number in range(rows):
        width = 5
        roll = rnd.random()
        if roll < 0.02:
            out.append(ending)  # an empty line
            continue
        if roll < 0.05:
            width = rnd.choice([1, 2, 6, 8])  # short and ragged rows
        cells = [str(number)] + [_cell(rnd) for _ in range(width - 1)]
        out.append(",".join(cells) + ending)
    return "".join(out).encode()


@pytest.mark.parametrize("seed, ending", [(1, "\n"), (2, "\r\n"), (3, "\r"), (4, "\n")])
def test_hostile_files_read_the_same(seed, ending, monkeypatch):
    data = _hostile(seed, 1500, ending)
    if seed == 4:
        data = b"\xef\xbb\xbf" + data  # a byte order mark
    monkeypatch.setattr(chunks, "CHUNK", 512)
    for batch_size in (1, 13, 1000):
        chunked, lines = _both(data, batch_size, monkeypatch)
        _assert_same(chunked, lines)
    # a resume from any batch's point reads on exactly as the whole read did
    everything = [r for b in lines for r in b[0]]
    done = 0
    for records, _, point in chunked[:40]:
        done += len(records)
        rest = [r for b in _read(data, 13, resume=point) for r in b[0]]
        assert rest == everything[done:]


def test_the_typed_columns_of_the_benchmark_data(monkeypatch):
    rnd = random.Random(5)
    rows = ["id,n,f,b,code,flag,note"]
    for i in range(3000):
        rows.append(f"{i},{rnd.randint(-10**12, 10**12)},{rnd.uniform(-1e3, 1e3):.2f},{rnd.choice(['true', 'FALSE'])},"
                    f"{rnd.randint(0, 99999):05d},{rnd.choice(['', 'NULL', 'x'])},\"a, b\nc\"")
    data = ("\n".join(rows) + "\n").encode()
    monkeypatch.setattr(chunks, "CHUNK", 8192)
    _assert_same(*_both(data, 1000, monkeypatch))


def _numbered(count: int) -> list[bytes]:
    return [f"{i},name {i}\n".encode() for i in range(count)]


@pytest.mark.parametrize("bad, message", [
    (b"5000,\x00\n", "line 5002 contains NUL bytes"),
    (b'5000,"never closed\n', "line 5002: a quoted field is never closed"),
    (b"5000,caf\xe9\n", "line 5002 (byte offset"),  # detected, not UTF-8: the line reader decides
])
def test_what_the_chunk_reader_cannot_read_is_read_by_the_line_reader(bad, message, monkeypatch):
    """The chunks before the bad line come from the chunk reader; the line reader names the line."""
    data = b"id,name\n" + b"".join(_numbered(5000)) + bad + b"".join(_numbered(10))
    handed = []
    real = source._line_batches

    def line_batches(stream, rest, point, *args):
        handed.append(point.line)
        return real(stream, rest, point, *args)

    monkeypatch.setattr(chunks, "CHUNK", 4096)
    monkeypatch.setattr(source, "_line_batches", line_batches)
    batches = []
    if b"\xe9" in bad:  # not an error: cp1252 is detected, from the line on
        batches = list(read_batches(io.BytesIO(data), 100))
        assert batches[-1].records[-1] == {"id": 9, "name": "name 9"}
        assert [r["name"] for b in batches for r in b.records if r["id"] == 5000] == ["café"]
        assert batches[-1].resume.encoding == "cp1252"
    else:
        with pytest.raises(CsvError, match=message):
            for batch in read_batches(io.BytesIO(data), 100):
                batches.append(batch)
        assert sum(len(b.records) for b in batches) >= 4000  # read by chunks up to near the bad line
    assert len(handed) == 1 and 4000 < handed[0] <= 5001


def test_a_quote_inside_an_unquoted_cell_reads_as_the_line_reader_reads_it(monkeypatch):
    data = b'id,name\n1,5" disk\n2,x\n3,"a\nb"\n4,say "hi\n5,ok\n' * 200
    monkeypatch.setattr(chunks, "CHUNK", 256)
    _assert_same(*_both(data, 10, monkeypatch))


def test_a_record_over_the_limit_is_refused_as_before(monkeypatch):
    data = b"id,name\n" + b"".join(_numbered(2000)) + b'9,"' + b"x" * 5000 + b'"\n'
    monkeypatch.setattr(chunks, "CHUNK", 1024)
    with pytest.raises(CsvError, match="line 2002: the record is larger than the limit of 4096 bytes"):
        list(read_batches(io.BytesIO(data), 100, max_record_bytes=4096))
