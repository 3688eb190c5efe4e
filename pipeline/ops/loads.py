"""The loads: csv_data_load, csv_file_load, csv_url_load and import_from_s3, read in batches into the splitter.

A load's source (:mod:`pipeline.sources`) is read in a thread, a batch at a
time, while the splitter routes the records to the shards. Every few batches
the load checkpoints: the job's record then holds where the source is and
what each shard was sent, so a worker that takes the job over resumes from
there.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from .. import codec
from ..auth.directory import Principal
from ..auth.policy import Authorizer
from ..config import Settings
from ..contract.answers import resume_failed
from ..contract.errors import HarperError
from ..contract.names import check_column_names
from ..jobs.events import emit, event, split_done
from ..jobs.fold import resume_point
from ..jobs.view import JobsView
from ..kafka.bus import Bus
from ..kafka.logview import LogView
from ..metrics import Metrics
from ..records import DataChunks
from ..shard.splitter import Splitter
from ..sources.base import SourcePartition
from ..sources.data import ChunkedDataSource, DataSource
from ..sources.file import FileSource
from ..sources.s3 import S3Source
from ..sources.url import UrlSource
from .errors import job_error
from .tables import Tables


class Loads:
    def __init__(self, settings: Settings, bus: Bus, tables: Tables, authorizer: Authorizer, jobs: JobsView,
                 jobs_log: LogView, metrics: Metrics) -> None:
        self.settings = settings
        self.bus = bus
        self.shards = settings.shard_partitions
        self.tables = tables
        self.authorizer = authorizer
        self.jobs = jobs
        self.jobs_log = jobs_log
        self.metrics = metrics

    async def run(self, job_id: str, op: dict, principal: Principal | None, resumed: bool,
                  checkpoint: dict | None) -> None:
        """Read the source in batches into the splitter, checkpointing every few batches.

        At each checkpoint the splitter waits until the job's record holds the
        checkpoint before (so a worker that takes the job over never starts
        further back than that) and the shards have applied what it had sent by
        then: it never runs more than two checkpoints ahead of the slowest shard
        writer, and in the usual case, where they keep up, it does not wait.
        """
        table = self.tables.table(op)
        settings = self.settings
        splitter = Splitter(self.bus, job_id, table, op["action"], self.shards, settings.batch_size,
                            settings.max_record_bytes, resume=checkpoint)
        loop = asyncio.get_running_loop()
        seen: set[str] = set()
        done = checkpoint["batches"] if checkpoint else 0
        sent_before = checkpoint["commands"] if checkpoint else [0] * self.shards
        source = source_for(op, settings, self.bus, checkpoint["source"] if checkpoint else None)
        read_from = source_offset(source)
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(source)
                records = await loop.run_in_executor(None, source.next_batch)
            except Exception as err:
                if not resumed:
                    raise
                reason = job_error(job_id, op, err)
                raise HarperError(resume_failed(resume_point(checkpoint), reason)) from None
            while records is not None:
                # in the order the source gives them, which Harper's permission answer keeps
                names = [n for n in dict.fromkeys(k for record in records for k in record) if n not in seen]
                if names:
                    check_column_names(names)
                    self.authorizer.check_load_columns(principal, table, names, op["action"])
                    await self.tables.register_attributes(table, set(names))
                    seen.update(names)
                await splitter.add(records)
                read_to = source_offset(source)
                self.metrics.rows_parsed(op["operation"], len(records))
                self.metrics.bytes_read(op["operation"], read_to - read_from)
                read_from = read_to
                done += 1
                if done % settings.checkpoint_batches == 0:
                    state = await splitter.checkpoint()
                    await emit(self.bus, event(job_id, "SPLIT_PROGRESS", parsed=state["parsed"], detail=codec.dumps(
                        {**state, "batches": done, "source": source.snapshot()})), wait=True)
                    waiting = time.perf_counter()
                    await self.jobs_log.wait_for(self.jobs.caught_up(
                        job_id, done - settings.checkpoint_batches, sent_before))
                    self.metrics.checkpoint_waited(time.perf_counter() - waiting)
                    sent_before = state["commands"]
                records = await loop.run_in_executor(None, source.next_batch)
        commands = await splitter.finish()
        read = source.snapshot() or {}
        await emit(self.bus, split_done(job_id, splitter.parsed, commands,
                                        {k: read[k] for k in ("ragged", "ragged_lines", "encoding") if k in read}))


def source_offset(source: SourcePartition) -> int:
    """How far into its bytes a CSV source has read (0 for a JSON source, whose reader keeps no byte offset)."""
    return int((source.snapshot() or {}).get("offset", 0))


def source_for(op: dict, settings: Settings, bus: Bus, position: dict | None) -> SourcePartition:
    """The source a validated load reads, from ``position`` (a checkpoint's) or from its beginning."""
    name, size = op["operation"], settings.batch_size
    if name == "csv_data_load" and isinstance(op["data"], DataChunks):
        return ChunkedDataSource(op["data"], bus, size, position, settings.max_record_bytes)
    if name == "csv_data_load":  # text already: its 'encoding' has nothing to say
        return DataSource(op["data"], size, position, settings.max_record_bytes)
    source: SourcePartition
    if name == "csv_file_load":
        source = FileSource(Path(op["file_path"]), settings.allowed_dirs, size, position, settings.max_record_bytes)
    elif name == "import_from_s3":
        source = S3Source(op["s3"], settings, size, position)
    else:
        source = UrlSource(op["csv_url"], op.get("passthrough_headers"), settings, size, position)
    source.encoding = op.get("encoding")
    return source
