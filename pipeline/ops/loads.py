"""The loads: csv_data_load, csv_file_load, csv_url_load and import_from_s3, read in batches into the splitter.

A load's source is read in a thread, a batch at a time, while the splitter
routes the records to the shards. Every few batches the load checkpoints:
the job's record then holds where the source is and what each shard was
sent, so a worker that takes the job over resumes from there.
"""
from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path
from typing import Any, AsyncIterator, BinaryIO, Iterator

from .. import codec, s3
from ..auth.directory import Principal
from ..auth.policy import Authorizer
from ..config import Settings
from ..contract.answers import resume_failed
from ..contract.errors import HarperError
from ..contract.names import check_column_names
from ..jobs.events import emit, event, split_done
from ..jobs.view import JobsView
from ..kafka.bus import Bus
from ..kafka.logview import LogView
from ..shard.splitter import Splitter
from ..sources.csv import ResumePoint, read_batches
from ..sources.json import read_json_batches
from ..sources.pipe import Pipe
from ..sources.url import download
from .errors import job_error
from .tables import Tables


class Loads:
    def __init__(self, settings: Settings, bus: Bus, tables: Tables, authorizer: Authorizer, jobs: JobsView,
                 jobs_log: LogView) -> None:
        self.settings = settings
        self.bus = bus
        self.shards = settings.shard_partitions
        self.tables = tables
        self.authorizer = authorizer
        self.jobs = jobs
        self.jobs_log = jobs_log

    @contextlib.asynccontextmanager
    async def _source(self, op: dict) -> AsyncIterator[BinaryIO]:
        """The load's bytes as a blocking stream for the CSV reader's thread."""
        if op["operation"] == "csv_data_load":
            yield io.BytesIO(op["data"].encode())
        elif op["operation"] == "csv_file_load":
            with open(Path(op["file_path"]), "rb") as stream:
                yield stream
        elif op["operation"] == "import_from_s3":
            bucket, key = op["s3"]["bucket"], op["s3"]["key"]
            try:
                client = s3.client(op["s3"], self.settings)
                answer = await asyncio.to_thread(client.get_object, Bucket=bucket, Key=key)
            except s3.S3_ERRORS as err:
                raise s3.error(err, bucket, key) from None
            with io.BufferedReader(_S3Body(answer["Body"], bucket, key), 1024 * 1024) as stream:
                yield stream
        else:
            pipe = Pipe()
            task = asyncio.create_task(download(op["csv_url"], op.get("passthrough_headers"),
                                                self.settings, pipe))
            try:
                with io.BufferedReader(pipe, 1024 * 1024) as stream:
                    yield stream
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

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
                            resume=checkpoint)
        loop = asyncio.get_running_loop()
        seen: set[str] = set()
        done = checkpoint["batches"] if checkpoint else 0
        sent_before = checkpoint["commands"] if checkpoint else [0] * self.shards
        async with contextlib.AsyncExitStack() as stack:
            try:
                stream = await stack.enter_async_context(self._source(op))
                batches = _batches(op, stream, settings.batch_size, checkpoint["source"] if checkpoint else None)
                item = await loop.run_in_executor(None, next, batches, None)
            except Exception as err:
                if not resumed:
                    raise
                reason = job_error(job_id, op, err)
                raise HarperError(resume_failed(resume_point(checkpoint), reason)) from None
            while item is not None:
                records, position = item
                names = set().union(*records) - seen
                if names:
                    check_column_names(names)
                    self.authorizer.check_load_columns(principal, table, names, op["action"])
                    await self.tables.register_attributes(table, names)
                    seen |= names
                await splitter.add(records)
                done += 1
                if done % settings.checkpoint_batches == 0:
                    state = await splitter.checkpoint()
                    await emit(self.bus, event(job_id, "SPLIT_PROGRESS", parsed=state["parsed"], detail=codec.dumps(
                        {**state, "batches": done, "source": position})), wait=True)
                    await self.jobs_log.wait_for(self.jobs.caught_up(
                        job_id, done - settings.checkpoint_batches, sent_before))
                    sent_before = state["commands"]
                item = await loop.run_in_executor(None, next, batches, None)
        commands = await splitter.finish()
        await emit(self.bus, split_done(job_id, splitter.parsed, commands))


def _batches(op: dict, stream: BinaryIO, batch_size: int,
             position: dict | None) -> Iterator[tuple[list[dict], dict]]:
    """A load's records in batches, each with the position just after it (JSON-safe, for checkpoints)."""
    if op["operation"] == "import_from_s3" and op["s3"]["key"].endswith(".json"):
        count = position["records"] if position else 0
        for records in read_json_batches(stream, batch_size, skip=count):
            count += len(records)
            yield records, {"records": count}
        return
    resume = ResumePoint(position["offset"], position["line"], tuple(position["header"]), position["delimiter"]) \
        if position else None
    for batch in read_batches(stream, batch_size, resume=resume):
        point = batch.resume
        yield batch.records, {"offset": point.offset, "line": point.line, "header": point.header,
                              "delimiter": point.delimiter}


def resume_point(checkpoint: dict | None) -> str:
    """Where a taken-over load carries on from, for people."""
    if checkpoint is None:
        return "from the beginning (it had no checkpoint yet; commands already applied are skipped)"
    source = checkpoint["source"]
    where = f"line {source['line'] + 1}" if "line" in source else f"record {source['records'] + 1}"
    return f"from {where} of the source, after {checkpoint['parsed']} records"


class _S3Body(io.RawIOBase):
    """An S3 object's body as a raw stream; a connection cut mid-download names the object."""

    def __init__(self, body: Any, bucket: str, key: str) -> None:
        self._body, self._bucket, self._key = body, bucket, key

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:  # type: ignore[override]
        try:
            data = self._body.read(len(target))
        except (s3.S3_ERRORS + (OSError,)) as err:
            raise s3.error(err, self._bucket, self._key) from None
        target[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()
