"""The loads: csv_data_load, csv_file_load, csv_url_load and import_from_s3, read in batches into the splitter.

A load's source (:mod:`pipeline.sources`) is read in a thread; a CSV's blocks
are parsed, typed, encoded and routed by the worker's parse processes
(:mod:`pipeline.parsing`), a few ahead, while the splitter sends each
block's rows to the shards; other sources come a batch of records at a time. Every few batches
the load checkpoints: the job's record then holds where the source is and
what each shard was sent, so a worker that takes the job over resumes from
there.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, TypeVar

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
from ..catalog import TableDef
from ..metrics import Metrics
from ..parsing.block import ERROR, FALLBACK, BlockRequest, ParsedBlock
from ..parsing.pool import ParsePool
from ..records import DataChunks
from ..shard.splitter import Splitter
from ..sources.base import Records, SourcePartition
from ..sources.blocks import Block
from ..sources.chunks import CHUNK
from ..sources.exceptions import CsvError
from ..sources.data import ChunkedDataSource, DataSource
from ..sources.file import FileSource
from ..sources.s3 import S3Source
from ..sources.url import UrlSource
from .errors import job_error
from .tables import Tables

T = TypeVar("T")


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
        #: the parse processes the loads of this worker share
        self.parsers = ParsePool(settings.parse_processes)

    async def close(self) -> None:
        await self.parsers.close()

    async def run(self, job_id: str, op: dict, principal: Principal | None, resumed: bool,
                  checkpoint: dict | None) -> None:
        """Read the source into the splitter, checkpointing every ``checkpoint_batches`` batches of rows.

        A CSV is read in blocks that the parse processes turn into rows routed
        to the shards (:meth:`_blocks`), until a block needs the line reader;
        from there on, and for a JSON source, in batches of records.

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
        source = source_for(op, settings, self.bus, checkpoint["source"] if checkpoint else None)
        source.by_blocks = True
        run = _Run(self, job_id, op, principal, table, splitter, source, checkpoint)
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(source)
                first = await run.read(source.next_block if source.blocks else source.next_batch)
            except Exception as err:
                if not resumed:
                    raise
                reason = job_error(job_id, op, err)
                raise HarperError(resume_failed(resume_point(checkpoint), reason)) from None
            if source.blocks is not None:
                first = await self._blocks(run, first)
            records = first
            while records is not None:
                await run.names(dict.fromkeys(k for record in records for k in record))
                await splitter.add(records)
                await run.sent(len(records))
                records = await run.read(partial(source.next_batch, run.batch_limit()))
        commands = await splitter.finish()
        read = source.snapshot() or {}
        await emit(self.bus, split_done(job_id, splitter.parsed, commands,
                                        {k: read[k] for k in ("ragged", "ragged_lines", "encoding") if k in read}))

    async def _blocks(self, run: "_Run", block: Block | None) -> Records | None:
        """Load the source's blocks, from ``block`` on, through the parse processes: each block's rows go to the
        splitter in order while the next few are read and parsed. Returns None at the end of the source, or the
        first batch of records of the rest, when a block is to be read in batches (by the line reader)."""
        source, table = run.source, run.splitter.table
        # (block, its parse) in order; None at the end; an exception the reading raised
        ahead: asyncio.Queue[tuple[Block, asyncio.Future[ParsedBlock]] | BaseException | None] = \
            asyncio.Queue(self.parsers.in_flight)
        stopping = False

        async def read_ahead(block: Block | None) -> None:
            """Reads and sends blocks to parse while the ones before are loaded (a download that stalls holds
            up only this)."""
            try:
                while block is not None and not stopping:
                    await ahead.put((block, self.parsers.submit(BlockRequest(
                        block.data, block.line, block.header, block.delimiter, block.encoding,
                        self.settings.max_record_bytes, table.primary_key, run.splitter.table_crc, self.shards))))
                    if len(block.data) > CHUNK:  # a long record: one such block at a time
                        await ahead.join()
                    block = await run.read(source.next_block)
                await ahead.put(None)
            except Exception as err:  # noqa: BLE001 - the load's error, raised where the blocks are loaded
                await ahead.put(err)

        reading = asyncio.create_task(read_ahead(block))
        try:
            while (item := await ahead.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                oldest, parsing = item
                parsed = await parsing
                if parsed.kind == FALLBACK:
                    # the blocks read ahead are dropped, once no read is under way: from this block on the
                    # source is read in batches
                    stopping = True
                    ahead.task_done()
                    while (item := await ahead.get()) is not None and not isinstance(item, BaseException):
                        item[1].cancel()
                        ahead.task_done()
                    await reading
                    await run.read(partial(source.read_batches_from, oldest))
                    return await run.read(partial(source.next_batch, run.batch_limit()))
                if parsed.kind == ERROR:
                    raise CsvError(parsed.message or "", parsed.line)
                await run.names(parsed.names)
                await run.load_block(oldest, parsed)
                ahead.task_done()
            return None
        finally:
            reading.cancel()
            while not ahead.empty():
                item = ahead.get_nowait()
                if isinstance(item, tuple):
                    item[1].cancel()


class _Run:
    """One run of a load: its splitter and source, the columns seen, and when it checkpoints."""

    def __init__(self, loads: Loads, job_id: str, op: dict, principal: Principal | None, table: TableDef,
                 splitter: Splitter, source: SourcePartition, checkpoint: dict | None) -> None:
        self.loads = loads
        self.job_id = job_id
        self.op = op
        self.principal = principal
        self.table = table
        self.splitter = splitter
        self.source = source
        self.seen: set[str] = set()
        settings = loads.settings
        #: batches of rows sent so far (checkpoint_batches a checkpoint)
        self.done = checkpoint["batches"] if checkpoint else 0
        self.checkpointed = self.done  # at the last checkpoint
        self.sent_before = checkpoint["commands"] if checkpoint else [0] * loads.shards
        #: rows a checkpoint is taken after
        self.checkpoint_rows = settings.checkpoint_batches * settings.batch_size
        self.since = 0  # rows since the last checkpoint
        self.read_from = source_offset(source)
        self._loop = asyncio.get_running_loop()

    async def read(self, call: Callable[[], T]) -> T:
        """A blocking call of the source, in a thread."""
        return await self._loop.run_in_executor(None, call)

    async def names(self, names: Iterable[str]) -> None:
        """Check and register the columns not seen before (in the order the source gives them, which Harper's
        permission answer keeps)."""
        new = [name for name in names if name not in self.seen]
        if new:
            check_column_names(new)
            self.loads.authorizer.check_load_columns(self.principal, self.table, new, self.op["action"])
            await self.loads.tables.register_attributes(self.table, set(new))
            self.seen.update(new)

    async def load_block(self, block: Block, parsed: ParsedBlock) -> None:
        """Send a parsed block's rows, checkpointing inside it where its rows reach a checkpoint."""
        start = 0
        while True:
            stop = min(parsed.count, start + self.checkpoint_rows - self.since)
            if parsed.records is not None:
                await self.splitter.add(parsed.records[start:stop])
            else:
                await self.splitter.add_packed(parsed.shards, start, stop, parsed.names if parsed.uniform else None)
            self.source.block_done(block, *_point_after(block, parsed, start, stop), finished=stop == parsed.count)
            await self.sent(stop - start)
            if stop == parsed.count:
                return
            start = stop

    async def sent(self, count: int) -> None:
        """``count`` more rows were sent: a checkpoint every :attr:`checkpoint_rows` rows (a batch read in
        batches ends there, a block is cut there), wherever the source was read from."""
        await self._metrics(count)
        self.since += count
        if self.since >= self.checkpoint_rows:
            self.done += self.loads.settings.checkpoint_batches
            await self._checkpoint()

    def batch_limit(self) -> int:
        """The most records the next batch may hold: a checkpoint comes after them."""
        return self.checkpoint_rows - self.since

    async def _metrics(self, count: int) -> None:
        metrics, operation = self.loads.metrics, self.op["operation"]
        read_to = source_offset(self.source)
        metrics.rows_parsed(operation, count)
        metrics.bytes_read(operation, read_to - self.read_from)
        self.read_from = read_to

    async def _checkpoint(self) -> None:
        loads = self.loads
        state = await self.splitter.checkpoint()
        await emit(loads.bus, event(self.job_id, "SPLIT_PROGRESS", parsed=state["parsed"], detail=codec.dumps(
            {**state, "batches": self.done, "source": self.source.snapshot()})), wait=True)
        waiting = time.perf_counter()
        await loads.jobs_log.wait_for(loads.jobs.caught_up(self.job_id, self.checkpointed, self.sent_before))
        loads.metrics.checkpoint_waited(time.perf_counter() - waiting)
        self.checkpointed, self.sent_before, self.since = self.done, state["commands"], 0


def _point_after(block: Block, parsed: ParsedBlock, start: int, rows: int) -> tuple[int, int, list[int], str | None]:
    """Where the source stands after the first ``rows`` records of ``block``: offset, line, the lines of the
    records with extra cells from record ``start`` up to there, and the encoding decided by then."""
    if rows == parsed.count:  # the whole block, empty lines after its last record too
        offset, line = block.offset + len(block.data), block.line + block.lines
    else:
        offset, line = block.offset + parsed.offsets[rows - 1], block.line + parsed.lines[rows - 1]
    ragged = [at for index, at in parsed.ragged if start <= index < rows]
    decided = parsed.decided_line is not None and line >= parsed.decided_line
    return offset, line, ragged, parsed.encoding if decided else None


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
