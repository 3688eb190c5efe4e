"""A load's CSV read in blocks (what the parse processes make of them) against the line reader, row by row.

The job's side cuts the blocks (:class:`BlockReader`), a parse process turns
each into rows encoded and routed to shards (:func:`parse_block`, called here
in this process, as with ``PIPELINE_PARSE_PROCESSES=0``); a block it cannot
read as the line reader would is read, with the rest, in batches. Every row
the shards would store is decoded back and compared with the line reader's
record; a resume point inside a block reads on exactly from there.
"""
from __future__ import annotations

import io

import pytest

from harness import SHARED
from test_csv_chunks import _hostile, _line_reader_only
from pipeline import codec
from pipeline.ops.loads import _point_after
from pipeline.parsing import arrow
from pipeline.parsing.arrow import arrow_block
from pipeline.parsing.block import FALLBACK, RECORDS, ROWS, BlockRequest, ParsedBlock, csv_block, parse_block
from pipeline.records import WriteRows
from pipeline.shard.routing import shard_of, table_crc
from pipeline.sources import blocks, csv as source
from pipeline.sources.blocks import BlockReader
from pipeline.sources.csv import CsvError, read_batches
from pipeline.sources.rows import BatchLimit, ResumePoint

MAX = 8 * 1024 ** 2
SHARDS = 4
TABLE = table_crc("dev", "t")


def _reference(data: bytes, monkeypatch, **options) -> list[dict]:
    """The line reader's records (the block reader off), keys normalized as the splitter does."""
    with monkeypatch.context() as patch:
        patch.setattr(source, "chunk_batches", _line_reader_only)
        return [_normalized(r) for b in read_batches(io.BytesIO(data), 1000, **options) for r in b.records]


def _normalized(record: dict, key: str = "id") -> dict:
    try:
        return {**record, key: codec.normalize_key(record.get(key))}
    except codec.InvalidKey:
        return record


def _rows(parsed: ParsedBlock) -> list[dict]:
    """A parsed block's rows, each decoded from its shard's packed bytes, in the block's order; checks each
    went to the shard its key belongs to."""
    found: dict[int, dict] = {}
    for shard, rows in parsed.shards.items():
        packed = WriteRows()
        packed.extend(rows.count, rows.lengths, rows.exact, rows.data)
        unpacked = WriteRows.unpack(packed.payload(), "id")
        for at, (index, key) in enumerate(zip(rows.rows, unpacked.keys)):
            assert shard_of(TABLE, key, SHARDS) == shard
            found[index] = unpacked.row(at).record()
    return [found[index] for index in range(parsed.count)]


def _through_blocks(data: bytes, key: str = "id", max_record_bytes: int = MAX,
                    encoding: str | None = None) -> tuple[list[dict], list[tuple[int, ResumePoint]], list[str]]:
    """The records as a load reads them in blocks, points inside blocks (after how many records), and the kinds
    of the blocks."""
    reader = BlockReader(io.BytesIO(data), None, encoding, max_record_bytes, BatchLimit(13))
    records: list[dict] = []
    points: list[tuple[int, ResumePoint]] = []
    kinds: list[str] = []
    while (block := reader.next_block()) is not None:
        parsed = parse_block(BlockRequest(block.data, block.line, block.header, block.delimiter, block.encoding,
                                          max_record_bytes, key, TABLE, SHARDS))
        kinds.append(parsed.kind)
        if parsed.kind == FALLBACK:
            for batch in reader.rows_from(block):
                records += map(_normalized, batch.records)
            break
        assert parsed.kind in (ROWS, RECORDS), parsed.message
        got = list(map(_normalized, parsed.records)) if parsed.kind == RECORDS else _rows(parsed)
        for rows in {1, parsed.count // 2} if parsed.count > 1 else ():
            offset, line, _, encoding_then = _point_after(block, parsed, 0, rows)
            points.append((len(records) + rows, ResumePoint(offset, line, block.header, block.delimiter,
                                                            block.encoding or encoding_then)))
        records += got
        reader.advance(*_point_after(block, parsed, 0, parsed.count))
        reader.finished(block)
    return records, points, kinds


@pytest.fixture
def arrow_short(monkeypatch):
    """The Arrow path takes blocks of any number of rows (the test files' blocks are short)."""
    monkeypatch.setattr(arrow, "MIN_ROWS", 1)


@pytest.mark.parametrize("name", sorted(p.name for p in (SHARED / "harper-suite" / "data").glob("*.csv")))
def test_northwind_loads_the_same_rows_through_the_blocks(name, monkeypatch, arrow_short):
    data = (SHARED / "harper-suite" / "data" / name).read_bytes()
    key = source.read_header(io.BytesIO(data), MAX, None)[0].header[0]  # the first column, as a key
    monkeypatch.setattr(blocks, "CHUNK", 4096)
    records, points, _ = _through_blocks(data, key)
    with monkeypatch.context() as patch:
        patch.setattr(source, "chunk_batches", _line_reader_only)
        want = [_normalized(r, key) for b in read_batches(io.BytesIO(data), 1000) for r in b.records]
    assert records == want
    for done, point in points[:20]:  # a resume inside a block reads on from exactly there
        assert [_normalized(r, key) for b in read_batches(io.BytesIO(data), 1000, resume=point)
                for r in b.records] == want[done:]


@pytest.mark.parametrize("seed, ending", [(1, "\n"), (2, "\r\n"), (3, "\r")])
def test_hostile_files_load_the_same_rows_through_the_blocks(seed, ending, monkeypatch, arrow_short):
    data = _hostile(seed, 1500, ending)
    monkeypatch.setattr(blocks, "CHUNK", 512)
    records, points, kinds = _through_blocks(data)
    want = _reference(data, monkeypatch)
    assert records == want
    assert ROWS in kinds
    for done, point in points[:30]:
        assert [_normalized(r) for b in read_batches(io.BytesIO(data), 7, resume=point) for r in b.records] == \
            want[done:]


def test_rows_without_a_key_come_back_as_records_for_the_splitter(monkeypatch):
    lines = ["id,name"] + [f"{'NULL' if i in (100, 2500) else i},n{i}" for i in range(3000)]
    data = ("\n".join(lines) + "\n").encode()
    monkeypatch.setattr(blocks, "CHUNK", 2048)
    records, _, kinds = _through_blocks(data)
    assert records == _reference(data, monkeypatch)
    assert RECORDS in kinds and ROWS in kinds


@pytest.mark.parametrize("bad", [b"5000,\x00\n", b'5000,"never closed\n', b"5000,caf\xe9\n"])
def test_a_block_the_line_reader_must_read_hands_the_rest_over(bad, monkeypatch):
    data = b"id,name\n" + b"".join(f"{i},name {i}\n".encode() for i in range(5000)) + bad + b"9,x\n"
    monkeypatch.setattr(blocks, "CHUNK", 4096)
    if b"\xe9" in bad:  # cp1252, detected by the line reader from that line on
        records, _, kinds = _through_blocks(data)
        assert kinds[-1] == FALLBACK and kinds[:-1] == [ROWS] * (len(kinds) - 1)
        assert records == _reference(data, monkeypatch)
    else:
        with pytest.raises(CsvError) as raised:
            _through_blocks(data)
        with pytest.raises(CsvError) as reference:
            _reference(data, monkeypatch)
        assert str(raised.value) == str(reference.value) and "line 5002" in str(raised.value)


def test_a_cell_too_deep_is_named_by_line_and_column():
    data = b"id,doc\n1,x\n2," + b"[" * 150 + b"]" * 150 + b"\n"
    reader = BlockReader(io.BytesIO(data), None, None, MAX, BatchLimit(10))
    block = reader.next_block()
    parsed = parse_block(BlockRequest(block.data, block.line, block.header, block.delimiter, None, MAX, "id",
                                      TABLE, SHARDS))
    assert parsed.kind == "error" and parsed.line == 3
    assert parsed.message.startswith("line 3, column 'doc': the value is nested more than 100 levels deep")


def test_a_block_ends_where_it_would_have_ended_whichever_record_the_reading_started_at(monkeypatch):
    """The cuts depend on the file, not on the resume point, so a resumed load meets the same blocks."""
    data = _hostile(9, 800, "\n")
    monkeypatch.setattr(blocks, "CHUNK", 700)
    whole = BlockReader(io.BytesIO(data), None, None, MAX, BatchLimit(10))
    ends = []
    while (block := whole.next_block()) is not None:
        ends.append(block.offset + len(block.data))
    batches = list(read_batches(io.BytesIO(data), 37))
    for batch in batches[3:12]:
        resumed = BlockReader(io.BytesIO(data), batch.resume, None, MAX, BatchLimit(10))
        first = resumed.next_block()
        assert first.offset == batch.resume.offset
        later = []
        while (block := resumed.next_block()) is not None:
            later.append(block.offset + len(block.data))
        assert [first.offset + len(first.data), *later] == [end for end in ends if end > batch.resume.offset]


def _arrow_against_csv(data: bytes, key: str | None = None) -> tuple[int, int]:
    """Every block of ``data`` through the Arrow path and the csv module path: the same block where Arrow takes
    it. (blocks, blocks Arrow took)."""
    reader = BlockReader(io.BytesIO(data), None, None, MAX, BatchLimit(1000))
    encoding, taken, count = None, 0, 0
    while (block := reader.next_block()) is not None:
        request = BlockRequest(block.data, block.line, block.header, block.delimiter, encoding, MAX,
                               key or block.header[0], TABLE, SHARDS)
        fast, slow = arrow_block(request), csv_block(request)
        count += 1
        if fast is not None:
            taken += 1
            assert fast == slow, block.line
        if slow.kind not in (ROWS, RECORDS):
            break
        encoding = slow.encoding or encoding
    return count, taken


@pytest.mark.parametrize("name", sorted(p.name for p in (SHARED / "harper-suite" / "data").glob("*.csv")))
def test_northwind_blocks_through_arrow_are_the_csv_modules(name, monkeypatch, arrow_short):
    monkeypatch.setattr(blocks, "CHUNK", 4096)
    count, taken = _arrow_against_csv((SHARED / "harper-suite" / "data" / name).read_bytes())
    assert count


def test_most_northwind_blocks_take_the_arrow_path(monkeypatch, arrow_short):
    """The path is taken, so the comparisons above prove something."""
    monkeypatch.setattr(blocks, "CHUNK", 4096)
    counts = [_arrow_against_csv(path.read_bytes()) for path in (SHARED / "harper-suite" / "data").glob("*.csv")]
    assert sum(taken for _, taken in counts) * 2 > sum(count for count, _ in counts)


@pytest.mark.parametrize("seed, ending", [(1, "\n"), (2, "\r\n"), (3, "\r")])
def test_hostile_blocks_through_arrow_are_the_csv_modules_or_declined(seed, ending, monkeypatch, arrow_short):
    monkeypatch.setattr(blocks, "CHUNK", 512)
    assert _arrow_against_csv(_hostile(seed, 1500, ending))[0]
