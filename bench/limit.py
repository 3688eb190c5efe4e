"""The raw in-process limit, measured in the same run as the pipeline, to judge the pipeline against.

Load: one Python process parses the CSV with the ``csv`` module, types each
cell with Harper's rules (``pipeline.cells.type_cell``), encodes each row with
orjson and writes 1,000-row rocksdict WriteBatches. Export: the same process
scans that store in key order and writes each row as JSON. No Kafka, no
shards, no job tracking: the ceiling a streaming design pays overhead against.

    python bench/limit.py data.csv
"""
from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
import time
from pathlib import Path

import orjson
from rocksdict import Options, Rdict, WriteBatch

from pipeline.cells import type_cell


def load(path: Path, store: Path, batch_rows: int = 1000) -> tuple[int, float]:
    """(rows, seconds) to parse, type, encode and write ``path`` into a new store at ``store``."""
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    db = Rdict(str(store), options)
    started = time.perf_counter()
    rows = 0
    with open(path, newline="", encoding="utf-8") as source:
        reader = csv.reader(source)
        header = next(reader)
        batch = WriteBatch(raw_mode=True)
        for cells in reader:
            record = {name: type_cell(cell) for name, cell in zip(header, cells)}
            batch.put(str(record[header[0]]).encode(), orjson.dumps(record))
            rows += 1
            if rows % batch_rows == 0:
                db.write(batch)
                batch = WriteBatch(raw_mode=True)
        db.write(batch)
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
