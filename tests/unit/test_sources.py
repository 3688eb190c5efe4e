"""Sources as partitions: batches, and a position from which a new partition carries on (real files)."""
from __future__ import annotations

import asyncio
import json

from pipeline.sources.base import SourcePartition
from pipeline.sources.data import DataSource
from pipeline.sources.file import FileSource


def read(source: SourcePartition, batches: int | None = None) -> tuple[list[list[dict]], dict | None]:
    """Up to ``batches`` batches (all by default), and the position after them."""
    async def run() -> tuple[list[list[dict]], dict | None]:
        out = []
        async with source:
            while batches is None or len(out) < batches:
                records = await asyncio.to_thread(source.next_batch)
                if records is None:
                    break
                out.append(records)
            return out, source.snapshot()
    return asyncio.run(run())


def test_a_csv_file_is_read_again_from_the_position_of_its_last_batch(tmp_path):
    path = tmp_path / "dogs.csv"
    path.write_text("id;name\n" + "".join(f"{i};dog {i}\n" for i in range(10)))
    first, position = read(FileSource(path, [tmp_path], batch_size=4), batches=2)
    assert [len(b) for b in first] == [4, 4] and position["line"] == 9 and position["delimiter"] == ";"
    rest, end = read(FileSource(path, [tmp_path], batch_size=4, resume=json.loads(json.dumps(position))))
    assert [r["id"] for b in first + rest for r in b] == list(range(10))
    assert rest[0][0] == {"id": 8, "name": "dog 8"} and end["line"] == 11


def test_inline_data_and_nothing_read_yet():
    source = DataSource("a,b\n1,2\n", batch_size=10)
    assert source.snapshot() is None
    batches, position = read(source)
    assert batches == [[{"a": 1, "b": 2}]] and position["offset"] == len("a,b\n1,2\n")


def test_a_json_array_carries_on_after_the_records_already_read(tmp_path):
    path = tmp_path / "dogs.json"
    path.write_text(json.dumps([{"id": i, "tags": "[1, 2]"} for i in range(5)]))

    def source(resume=None) -> FileSource:
        partition = FileSource(path, [tmp_path], batch_size=2, resume=resume)
        partition.json_records = True
        return partition

    first, position = read(source(), batches=1)
    assert position == {"records": 2} and first[0][1] == {"id": 1, "tags": [1, 2]}
    rest, end = read(source(position))
    assert [r["id"] for b in rest for r in b] == [2, 3, 4] and end == {"records": 5}
