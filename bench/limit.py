"""The raw in-process limit, measured in the same run as the pipeline, to judge the pipeline against.

Load: one Python process cuts the CSV into the blocks a load cuts
(``pipeline.sources.blocks.BlockReader``), has each parsed, typed and encoded
as a parse process does (``pipeline.parsing.block.parse_block``: pyarrow's
CSV reader and compute kernels, one shard), and writes each block's rows
in one rocksdict WriteBatch, the timestamps spliced in as a shard's writer
does.
The best parser and typing found, so "× limit" compares the pipeline with
itself minus Kafka, shards and job tracking. Export: the same process
scans that store in key order and writes each row as JSON. No Kafka, no
shards, no job tracking: the ceiling a streaming design pays overhead against.

    python bench/limit.py data.csv
"""
from __future__ import annotations

import argparse
import array
import shutil
import tempfile
import time
from pathlib import Path

import orjson
from rocksdict import Options, Rdict, WriteBatch

from pipeline import codec
from pipeline.parsing.block import ROWS, BlockRequest, parse_block
from pipeline.sources.blocks import BlockReader
from pipeline.sources.rows import BatchLimit

MAX_RECORD_BYTES = 8 * 1024 ** 2


def load(path: Path, store: Path, batch_rows: int = 1000) -> tuple[int, float]:
    """(rows, seconds) to parse, type, encode and write ``path`` into a new store at ``store``."""
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    db = Rdict(str(store), options)
    started = time.perf_counter()
    rows = 0
    times = codec.stored_times(1.0, 1.0)
    encoding = None
    with open(path, "rb") as source:
        reader = BlockReader(source, None, None, MAX_RECORD_BYTES, BatchLimit(batch_rows))
        while (block := reader.next_block()) is not None:
            # the first column is the key, as the pipeline's tables in the benchmark
            parsed = parse_block(BlockRequest(block.data, block.line, block.header, block.delimiter,
                                              block.encoding or encoding, MAX_RECORD_BYTES, block.header[0], 0, 1))
            if parsed.kind != ROWS:
                raise SystemExit(f"line {block.line + 1}: the limit loads files whose blocks a parse process takes")
            encoding = parsed.encoding
            reader.finished(block)
            if not parsed.count:
                continue
            packed = parsed.shards[0]
            lengths = array.array("I", packed.lengths)
            data, at = packed.data, 0
            write = WriteBatch(raw_mode=True)
            for key, head, tail in zip(lengths[0::3], lengths[1::3], lengths[2::3]):
                head_at, tail_at, at = at + key, at + key + head, at + key + head + tail
                write.put(data[head_at - key:head_at], data[head_at:tail_at] + times + data[tail_at:at])
            db.write(write)
            rows += parsed.count
    seconds = time.perf_counter() - started
    db.close()
    return rows, seconds


def export(store: Path, target: Path) -> tuple[int, float]:
    """(rows, seconds) to scan the store and write a JSON array of its rows."""
    db = Rdict(str(store), Options(raw_mode=True))
    started = time.perf_counter()
    rows = 0
    with open(target, "wb") as out:
        out.write(b"[")
        for _, value in db.items():
            out.write(b"," if rows else b"")
            out.write(orjson.dumps(orjson.loads(value)))
            rows += 1
        out.write(b"]")
    seconds = time.perf_counter() - started
    db.close()
    return rows, seconds


def measure(path: Path) -> dict[str, float]:
    """Rows per second of the load limit and the export limit for ``path``."""
    work = Path(tempfile.mkdtemp(prefix="hp-limit-"))
    try:
        rows, seconds = load(path, work / "store")
        exported, export_seconds = export(work / "store", work / "out.json")
        return {"load": rows / seconds, "export": exported / export_seconds}
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    limits = measure(parser.parse_args().csv)
    print(f"load limit   {limits['load']:>10,.0f} rows/s")
    print(f"export limit {limits['export']:>10,.0f} rows/s")
