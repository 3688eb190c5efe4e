"""The exports: export_local and export_to_s3, a search's rows written to a file or an S3 object.

Every shard's rows are spilled to disk as they come (memory stays flat) and
the file or object is written, in a thread, from their merge in key order
while the shards still scan (:class:`pipeline.query.gather.Spill`). Where
the shards' rows are the answer as they are sent (:attr:`Plan.finish_sent`:
an export of a search in key order), JSON and NDJSON are written from their
bytes, never decoded. A local file appears whole or not at all; an S3 upload
is aborted on failure.
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
        """Scan every shard, spilling the rows to disk as they come, and write the file or object from them
        at the same time."""
        settings = self.settings
        if op["operation"] == "export_local":
            op = validate_export(op, settings.allowed_dirs, FORMATS, now_ms())
        else:
            op = validate_export_s3(op, FORMATS)
        await self.tables.catch_up()
        # an SQL ``*`` exports only what the requester may read (``readable``), as its search would show
        planned = plan(op["search_operation"], self.tables.catalog, settings.duckdb_memory, readable)
        workdir = settings.data_dir / "tmp" / job_id
        spills = [Spill(workdir / f"scan-{i}", self.scanner.shards) for i in range(len(planned.scans))]
        exported = self.metrics.exported_counter(op["operation"], op["format"])

        def write(out: BinaryIO, counts: list[int]) -> None:
            writer, rows = _rows_to_write(planned, spills, counts, op["format"])
            writer(counted(rows, exported), out)

        def write_file(counts: list[int]) -> dict:
            with AtomicFile(Path(op["file"])) as out:
                write(out, counts)
            return export_result(op["format"], op["file"])

        def write_object(counts: list[int]) -> dict:
            bucket, key = op["s3"]["bucket"], op["object_key"]
            try:
                with S3Upload(s3.client(op["s3"], settings), bucket, key, settings.s3_part_bytes) as out:
                    write(out, counts)
            except s3.S3_ERRORS as err:
                raise s3.error(err, bucket, key) from None
            return out.result

        try:
            result = await self._scan_and_write(planned, spills,
                                                write_file if op["operation"] == "export_local" else write_object)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        await emit(self.bus, event(job_id, "COMPLETE", COMPLETE, message=completed_job_message(job_id),
                                   result=result))

    async def _scan_and_write(self, planned: Plan, spills: list[Spill], write: Callable[[list[int]], dict]) -> dict:
        """The scans, and ``write`` in a thread reading their spills as they fill; the first failure of either
        stops the other. A count's answer is known only when its scan ends: it is written after."""
        loop = asyncio.get_running_loop()

        async def scan_all() -> list[int]:
            return [await self.scanner.scan(spec, spill) for spec, spill in zip(planned.scans, spills)]

        if planned.count_as is not None:
            try:
                return await loop.run_in_executor(None, write, await scan_all())
            finally:
                for spill in spills:
                    spill.close()
        scanning = asyncio.ensure_future(scan_all())
        writing = loop.run_in_executor(None, write, [])
        try:
            await asyncio.wait({scanning, writing}, return_when=asyncio.FIRST_EXCEPTION)
            if scanning.done() and scanning.exception() is not None:
                raise scanning.exception()  # type: ignore[misc]
            result = await writing
            await scanning
            return result
        finally:
            scanning.cancel()
            for spill in spills:
                spill.close()  # a writer still reading stops at its next row
            await asyncio.wait({scanning, writing})
            for task in (scanning, writing):
                if not task.cancelled():
                    task.exception()  # the one that failed second: its error is the first one's consequence
