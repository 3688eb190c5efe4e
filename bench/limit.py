"""The raw in-process limit, measured in the same run as the pipeline, to judge the pipeline against.

Load: one Python process reads the CSV with the pipeline's own reader and
typing (``pipeline.sources.csv.read_batches``: a chunk at a time through the
``csv`` module, Harper's typing a column at a time: what a parse process runs
on each block), encodes each batch into the bytes a shard stores
(``pipeline.codec.rows_bytes``, the timestamps spliced in) and its keys a
column at a time (``pipeline.codec.encode_keys``), and writes 1,000-row
rocksdict WriteBatches under the encoded keys.
The best parser and typing found, so "× limit" compares the pipeline with
itself minus Kafka, shards and job tracking. Export: the same process
scans that store in key order and writes each row as JSON. No Kafka, no
shards, no job tracking: the ceiling a streaming design pays overhead against.

    python bench/limit.py data.csv
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import orjson
from rocksdict import Options, Rdict, WriteBatch

from pipeline import codec
from pipeline.sources.csv import read_batches


def load(path: Path, store: Path, batch_rows: int = 1000) -> tuple[int, float]:
    """(rows, seconds) to parse, type, encode and write ``path`` into a new store at ``store``."""
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    db = Rdict(str(store), options)
    started = time.perf_counter()
    rows = 0
    times = codec.stored_times(1.0, 1.0)
    with open(path, "rb") as source:
        for batch in read_batches(source, batch_rows):
            records = batch.records
            key = next(iter(records[0]))  # the first column, as the pipeline's tables in the benchmark
            keys = codec.encode_keys(codec.normalize_keys([record[key] for record in records]))
            write = WriteBatch(raw_mode=True)
            for encoded, row in zip(keys, codec.rows_bytes(records, key)):
                write.put(encoded, row.stored(times))
            db.write(write)
            rows += len(records)
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
