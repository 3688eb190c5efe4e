"""The exports: export_local and export_to_s3, a search's rows written to a file or an S3 object.

Every shard's rows are spilled to disk as they come (memory stays flat), then
the file or object is written in one pass over their merge, in key order. A
local file appears whole or not at all; an S3 upload is aborted on failure.
"""
from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable

from .. import codec, s3
from ..catalog import TableDef
from ..config import Settings
from ..contract.answers import completed_job_message, export_result
from ..contract.validate_jobs import validate_export, validate_export_s3
from ..jobs.events import COMPLETE, emit, event, now_ms
from ..kafka.bus import Bus
from ..metrics import Metrics, counted
from ..query.gather import Scanner, Spill
from ..query.plan import Plan
from ..query.planner import plan
from ..sinks.formats import FORMATS, TEXT_WRITERS, WRITERS
from ..sinks.local import AtomicFile
from ..sinks.s3 import S3Upload
from .tables import Tables


def _rows_to_write(planned: Plan, spills: list[Spill], counts: list[int],
                   fmt: str) -> tuple[Callable[[Iterable[Any], BinaryIO], int], Iterable[Any]]:
    """The writer of ``fmt`` and the rows it takes: the shards' JSON texts where it can."""
    if planned.finish_sent is not None:
        texts = planned.finish_sent(spills[0].lines())
        if fmt in TEXT_WRITERS:
            return TEXT_WRITERS[fmt], texts
        return WRITERS[fmt], map(codec.loads, texts)  # already projected by the shards
    return WRITERS[fmt], planned.answer([s.rows() for s in spills], counts)


class Exports:
    def __init__(self, settings: Settings, bus: Bus, tables: Tables, scanner: Scanner, metrics: Metrics) -> None:
        self.settings = settings
        self.bus = bus
        self.tables = tables
        self.scanner = scanner
        self.metrics = metrics

    async def run(self, job_id: str, op: dict,
                  readable: Callable[[TableDef], list[str] | None] | None = None) -> None:
        """Scan every shard, spill the rows to disk as they come, then write the file or object in one pass."""
        settings = self.settings
        if op["operation"] == "export_local":
            op = validate_export(op, settings.allowed_dirs, FORMATS, now_ms())
        else:
            op = validate_export_s3(op, FORMATS)
        await self.tables.catch_up()
        # an SQL ``*`` exports only what the requester may read (``readable``), as its search would show
        planned = plan(op["search_operation"], self.tables.catalog, settings.duckdb_memory, readable)
        workdir = settings.data_dir / "tmp" / job_id
        spills: list[Spill] = []
        exported = self.metrics.exported_counter(op["operation"], op["format"])
        try:
            counts = []
            for i, spec in enumerate(planned.scans):
                spills.append(Spill(workdir / f"scan-{i}", self.scanner.shards))
                counts.append(await self.scanner.scan(spec, spills[-1]))

            def write(out: BinaryIO) -> None:
                writer, rows = _rows_to_write(planned, spills, counts, op["format"])
                writer(counted(rows, exported), out)

            def write_file() -> dict:
                with AtomicFile(Path(op["file"])) as out:
                    write(out)
                return export_result(op["format"], op["file"])

            def write_object() -> dict:
                bucket, key = op["s3"]["bucket"], op["object_key"]
                try:
                    with S3Upload(s3.client(op["s3"], settings), bucket, key, settings.s3_part_bytes) as out:
                        write(out)
                except s3.S3_ERRORS as err:
                    raise s3.error(err, bucket, key) from None
                return out.result

            result = await asyncio.get_running_loop().run_in_executor(
                None, write_file if op["operation"] == "export_local" else write_object)
        finally:
            for spill in spills:
                spill.close()
            shutil.rmtree(workdir, ignore_errors=True)
        await emit(self.bus, event(job_id, "COMPLETE", COMPLETE, message=completed_job_message(job_id),
                                   result=result))
