"""Harper's operations, executed by a worker: the one dispatcher behind the HTTP API and the ``operations`` topic.

Bulk operations become jobs: the caller gets the job id at once and the job
runs wherever its ``operations`` message is consumed. Everything else is
answered directly. An operation that arrives on the topic (not through the
API) is still a job, so its outcome can be read with ``get_job``.
"""
from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, BinaryIO, Callable, Iterator

from .. import codec, s3
from ..auth.policy import Authorizer, Principal
from ..catalog import TableDef
from ..contract.answers import (completed_job_message, created_database_message, created_table_message, delete_answer,
                                describe_table_answer, dropped_database_message, dropped_table_message, export_result,
                                job_search_view, job_view, resume_failed, starting_job, table_missing, write_answer)
from ..contract.dates import parse_iso_date
from ..contract.errors import INVALID_JSON, MISSING_OPERATION, HarperError, operation_not_found
from ..contract.names import check_column_names
from ..contract.operations import DELETE_BEFORE
from ..contract.permissions import SUPER_USER_ONLY
from ..contract.validate_catalog import (validate_create_database, validate_create_table, validate_describe_database,
                                         validate_describe_table, validate_drop_database, validate_drop_table)
from ..contract.validate_jobs import (validate_export, validate_export_s3, validate_get_job, validate_job,
                                      validate_search_jobs, writable_directory)
from ..contract.validate_records import validate_write
from ..jobs import fold as jobs
from ..query import nosql as search, sql
from ..query.gather import Memory, Spill, collect
from ..runtime import Worker
from ..shard import snapshot
from ..shard.splitter import Splitter, broadcast, command, split_done
from ..sinks.formats import FORMATS, WRITERS
from ..sinks.local import AtomicFile
from ..sinks.s3 import S3Upload
from ..sources.csv import CsvError, ResumePoint, read_batches
from ..sources.json import JsonSourceError, read_json_batches
from ..sources.pipe import Pipe
from ..sources.url import download
from .users import UserOperations

log = logging.getLogger(__name__)

LOADS = frozenset({"csv_data_load", "csv_file_load", "csv_url_load", "import_from_s3"})
EXPORTS = frozenset({"export_local", "export_to_s3"})
#: the job operations this build runs; the others are answered as not found
JOB_OPERATIONS = LOADS | EXPORTS | DELETE_BEFORE


_SECRET = re.compile(rb'("aws_(?:secret_access_key|access_key_id)"\s*:\s*)"(?:[^"\\]|\\.)*"')


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


class Operations:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.catalog = worker.catalog
        self.authorizer = Authorizer(worker.catalog)
        self._sync: dict[str, Callable[[dict, Principal | None], Any]] = {
            "create_database": self.create_database, "create_schema": self.create_database,
            "create_table": self.create_table, "drop_table": self.drop_table,
            "drop_database": self.drop_database, "drop_schema": self.drop_database,
            "describe_table": self.describe_table, "describe_all": self.describe_all,
            "describe_database": self.describe_database, "describe_schema": self.describe_database,
            "insert": self.write, "update": self.write, "upsert": self.write, "delete": self.write,
            "search_by_hash": self.search, "search_by_id": self.search, "search_by_value": self.search,
            "search_by_conditions": self.search, "sql": self.search,
            "get_job": self.get_job, "search_jobs_by_start_date": self.search_jobs,
            "snapshot": self.snapshot,
            **UserOperations(worker).handlers,
        }

    # ---- entry points --------------------------------------------------------------
    async def call(self, op: Any, principal: Principal | None) -> Any:
        """Answer one operation body as ``principal`` (None: from the topic, trusted). Raises HarperError."""
        if not isinstance(op, dict):
            raise INVALID_JSON()
        name = op.get("operation")
        if name is None:
            raise MISSING_OPERATION()
        handler = self._sync.get(name)
        if handler is None and name not in JOB_OPERATIONS and name not in SUPER_USER_ONLY:
            raise operation_not_found(name)
        await self.worker.catalog_log.catch_up()  # see catalog changes made through any worker
        op = self.authorizer.narrow(op, principal)
        self.authorizer.check(op, principal, sql.references)  # Harper checks permissions before anything else
        if name in JOB_OPERATIONS:
            return await self.submit(op, principal.username if principal else None)
        if handler is None:
            raise operation_not_found(name)
        return await handler(op, principal)

    async def submit(self, op: dict, user: str | None) -> dict:
        """Validate a bulk operation, make it durable on ``operations``, answer with its job id."""
        op = validate_job(op, self.catalog, self.worker.settings.allowed_dirs)
        job_id = str(uuid.uuid4())
        created = jobs.event(job_id, "CREATED", type=op["operation"], user=user)
        await self._emit(created, wait=True)
        # the record exists before the answer, so a get_job right after it (through any worker) finds the job
        await self.worker.jobs_log.put(job_id, jobs.fold(None, created)[0])
        envelope = {"job_id": job_id, "user": user, "request": op}
        await self.worker.bus.send_and_wait("operations", codec.dumps(envelope), key=job_id.encode())
        return starting_job(job_id)

    async def intake(self, key: bytes | None, value: bytes, partition: int, offset: int, timestamp: float) -> None:
        """One message of ``operations``: a Harper body, or our envelope around one.

        A body produced without a job id as its key gets one derived from the
        message (:func:`jobs.job_id_of_message`), so the message delivered again
        is the same job, not a second one.
        """
        key_text = key.decode(errors="replace") if key else ""
        try:
            body = codec.loads(value)
            if not isinstance(body, dict):
                raise ValueError("an operation must be a JSON object")
        except ValueError as err:
            await self._dead_letter(value, key, f"operation is not valid JSON: {err}", partition, offset)
            if _is_uuid(key_text):
                await self._emit(jobs.event(key_text, "ERROR", jobs.ERROR,
                                            message=f"operation is not valid JSON: {err}"))
            return
        if isinstance(body.get("request"), dict) and "operation" not in body:
            job_id, user, op = body["job_id"], body.get("user"), body["request"]
        else:
            job_id = key_text if _is_uuid(key_text) else jobs.job_id_of_message(
                self.worker.bus.topic("operations"), partition, offset, round(timestamp * 1000))
            user, op = None, body
        name = op.get("operation")
        await self.worker.jobs_log.catch_up()
        record = self.worker.jobs.get(job_id)
        if record is not None and record["status"] in jobs.FINAL:
            log.info("a finished job was delivered again; it is not run again", extra={"job_id": job_id})
            return
        checkpoint, resumed = None, bool(record and record.get("_workers"))
        if resumed:
            # a worker started this job and stopped (or lost the partition): carry on from its last checkpoint
            checkpoint = record.get("_resume")
            await self._emit(jobs.event(job_id, "RESUMED", parsed=checkpoint["parsed"] if checkpoint else 0,
                                        message=f"resuming {_resume_point(checkpoint)}",
                                        detail=codec.dumps({"previous_workers": record["_workers"],
                                                            "checkpoint": checkpoint})))
        else:
            await self._emit(jobs.event(job_id, "STARTED", type=str(name), user=user))
        try:
            if name in JOB_OPERATIONS:
                await self.run_job(job_id, op, user, resumed, checkpoint)
                return
            answer = await self.call(op, None)
        except HarperError as err:
            await self._emit(jobs.event(job_id, "ERROR", jobs.ERROR, message=err.message))
            return
        except Exception as err:  # noqa: BLE001 - the worker must survive any one operation
            log.exception("operation failed", extra={"job_id": job_id, "operation": name})
            await self._emit(jobs.event(job_id, "ERROR", jobs.ERROR, message=f"{name} failed: {err}"))
            return
        message = answer.get("message") if isinstance(answer, dict) and len(answer) == 1 else None
        await self._emit(jobs.event(job_id, "COMPLETE", jobs.COMPLETE, message=message,
                                    result=None if message is not None else answer))

    # ---- jobs ----------------------------------------------------------------------
    async def run_job(self, job_id: str, op: dict, user: str | None = None, resumed: bool = False,
                      checkpoint: dict | None = None) -> None:
        """Run a bulk job to the point where its shards take over; failures end the job in ERROR.

        ``user``: who the API authenticated; a load checks its columns against that user's role.
        ``resumed``: another worker started the job; ``checkpoint``: where its load had got to.
        """
        try:
            await self.worker.catalog_log.catch_up()
            op = validate_job(op, self.catalog, self.worker.settings.allowed_dirs)
            if op["operation"] in EXPORTS:
                await self._export(job_id, op)
            elif op["operation"] in DELETE_BEFORE:
                await self._delete_before(job_id, op)
            else:
                await self._load(job_id, op, self.worker.directory.principal(user), resumed, checkpoint)
        except Exception as err:  # noqa: BLE001 - the worker must survive any one job
            await self._emit(jobs.event(job_id, "ERROR", jobs.ERROR, message=_job_error(job_id, op, err)))

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
                client = s3.client(op["s3"], self.worker.settings)
                answer = await asyncio.to_thread(client.get_object, Bucket=bucket, Key=key)
            except s3.S3_ERRORS as err:
                raise s3.error(err, bucket, key) from None
            with io.BufferedReader(_S3Body(answer["Body"], bucket, key), 1024 * 1024) as stream:
                yield stream
        else:
            pipe = Pipe()
            task = asyncio.create_task(download(op["csv_url"], op.get("passthrough_headers"),
                                                self.worker.settings, pipe))
            try:
                with io.BufferedReader(pipe, 1024 * 1024) as stream:
                    yield stream
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _load(self, job_id: str, op: dict, principal: Principal | None, resumed: bool,
                    checkpoint: dict | None) -> None:
        """Read the source in batches into the splitter, checkpointing every few batches.

        At each checkpoint the splitter waits until the job's record holds the
        checkpoint before (so a worker that takes the job over never starts
        further back than that) and the shards have applied what it had sent by
        then: it never runs more than two checkpoints ahead of the slowest shard
        writer, and in the usual case, where they keep up, it does not wait.
        """
        table = self._table(op)
        settings = self.worker.settings
        splitter = Splitter(self.worker.bus, job_id, table, op["action"], self.worker.shards, settings.batch_size,
                            resume=checkpoint)
        loop = asyncio.get_running_loop()
        seen: set[str] = set()
        done = checkpoint["batches"] if checkpoint else 0
        sent_before = checkpoint["commands"] if checkpoint else [0] * self.worker.shards
        async with contextlib.AsyncExitStack() as stack:
            try:
                stream = await stack.enter_async_context(self._source(op))
                batches = _batches(op, stream, settings.batch_size, checkpoint["source"] if checkpoint else None)
                item = await loop.run_in_executor(None, next, batches, None)
            except Exception as err:
                if not resumed:
                    raise
                reason = _job_error(job_id, op, err)
                raise HarperError(resume_failed(_resume_point(checkpoint), reason)) from None
            while item is not None:
                records, position = item
                names = set().union(*records) - seen
                if names:
                    check_column_names(names)
                    self.authorizer.check_load_columns(principal, table, names, op["action"])
                    await self._register_attributes(table, names)
                    seen |= names
                await splitter.add(records)
                done += 1
                if done % settings.checkpoint_batches == 0:
                    state = await splitter.checkpoint()
                    await self._emit(jobs.event(job_id, "SPLIT_PROGRESS", parsed=state["parsed"], detail=codec.dumps(
                        {**state, "batches": done, "source": position})), wait=True)
                    await self.worker.jobs_log.wait_for(self.worker.jobs.caught_up(
                        job_id, done - settings.checkpoint_batches, sent_before))
                    sent_before = state["commands"]
                item = await loop.run_in_executor(None, next, batches, None)
        commands = await splitter.finish()
        await self._emit(split_done(job_id, splitter.parsed, commands))

    async def _export(self, job_id: str, op: dict) -> None:
        """Scan every shard, spill the rows to disk as they come, then write the file or object in one pass."""
        settings = self.worker.settings
        if op["operation"] == "export_local":
            op = validate_export(op, settings.allowed_dirs, FORMATS, jobs.now_ms())
        else:
            op = validate_export_s3(op, FORMATS)
        await self.worker.catalog_log.catch_up()
        plan = search.plan(op["search_operation"], self.catalog, self.worker.settings.duckdb_memory)
        workdir = settings.data_dir / "tmp" / job_id
        spills: list[Spill] = []
        writer = WRITERS[op["format"]]
        try:
            for i, spec in enumerate(plan.scans):
                spills.append(Spill(workdir / f"scan-{i}", self.worker.shards))
                await self.scan(spec, spills[-1])

            def write_file() -> dict:
                with AtomicFile(Path(op["file"])) as out:
                    writer(plan.finish([s.rows() for s in spills]), out)
                return export_result(op["format"], op["file"])

            def write_object() -> dict:
                bucket, key = op["s3"]["bucket"], op["object_key"]
                try:
                    with S3Upload(s3.client(op["s3"], settings), bucket, key, settings.s3_part_bytes) as out:
                        writer(plan.finish([s.rows() for s in spills]), out)
                except s3.S3_ERRORS as err:
                    raise s3.error(err, bucket, key) from None
                return out.result

            result = await asyncio.get_running_loop().run_in_executor(
                None, write_file if op["operation"] == "export_local" else write_object)
        finally:
            for spill in spills:
                spill.close()
            shutil.rmtree(workdir, ignore_errors=True)
        await self._emit(jobs.event(job_id, "COMPLETE", jobs.COMPLETE, message=completed_job_message(job_id),
                                    result=result))

    async def _delete_before(self, job_id: str, op: dict) -> None:
        """A DeleteBefore command to every shard, ordered after the writes before it."""
        table = self._table(op)
        before = parse_iso_date(op["date"])
        await broadcast(self.worker.bus, self.worker.shards,
                        command("DELETE_BEFORE", job_id, table.database, table.name, before=before))
        await self._emit(split_done(job_id, 0, [1] * self.worker.shards))

    # ---- catalog -------------------------------------------------------------------
    def _table(self, op: dict) -> TableDef:
        table = self.catalog.table(op["database"], op["table"])
        if table is None:
            raise HarperError(table_missing(op["database"], op["table"]))
        return table

    async def _register_attributes(self, table: TableDef, names: set[str]) -> None:
        for key, value in self.catalog.new_attribute_records(table, sorted(names), jobs.now_ms()):
            await self.worker.catalog_log.put(key, value)

    async def create_database(self, op: dict, principal: Principal | None) -> dict:
        database = validate_create_database(op, self.catalog)
        await self.worker.catalog_log.put(*self.catalog.database_record(database, jobs.now_ms()))
        return {"message": created_database_message(database)}

    async def create_table(self, op: dict, principal: Principal | None) -> dict:
        database, table, primary_key = validate_create_table(op, self.catalog)
        now = jobs.now_ms()
        if not self.catalog.has_database(database):
            await self.worker.catalog_log.put(*self.catalog.database_record(database, now))
        await self.worker.catalog_log.put(*self.catalog.table_record(database, table, primary_key, now))
        return {"message": created_table_message(database, table)}

    async def drop_table(self, op: dict, principal: Principal | None) -> dict:
        database, table = validate_drop_table(op, self.catalog)
        await self._drop(database, table)
        return {"message": dropped_table_message(database, table)}

    async def drop_database(self, op: dict, principal: Principal | None) -> dict:
        database = validate_drop_database(op, self.catalog)
        for table in self.catalog.tables(database):
            await self._drop(database, table.name)
        for key in self.catalog.drop_database_keys(database):
            await self.worker.catalog_log.put(key, None)
        return {"message": dropped_database_message(database)}

    async def _drop(self, database: str, table: str) -> None:
        """Drop the records on every shard (ordered after the writes before it), then the definition."""
        await broadcast(self.worker.bus, self.worker.shards, command("DROP_TABLE", "", database, table))
        for key in self.catalog.drop_table_keys(database, table):
            await self.worker.catalog_log.put(key, None)

    async def _describe(self, table: TableDef, principal: Principal | None) -> dict:
        spec = {"database": table.database, "table": table.name, "keys": None, "conditions": None,
                "count_only": True}
        access = self.authorizer.describe_filter(principal, table)
        shown = [a for a in table.attributes if access is None or access.attribute_visible(a)]
        return describe_table_answer(table, await self.scan(spec, None), shown)

    def _visible(self, database: str, principal: Principal | None) -> list[TableDef]:
        return [t for t in self.catalog.tables(database) if self.authorizer.describe_filter(principal, t)]

    async def describe_table(self, op: dict, principal: Principal | None) -> dict:
        return await self._describe(validate_describe_table(op, self.catalog), principal)

    async def describe_database(self, op: dict, principal: Principal | None) -> dict:
        database = validate_describe_database(op, self.catalog)
        return {t.name: await self._describe(t, principal) for t in self._visible(database, principal)}

    async def describe_all(self, op: dict, principal: Principal | None) -> dict:
        visible = {db: self._visible(db, principal) for db in self.catalog.databases()}
        everything = principal is None or principal.super_user
        return {db: {t.name: await self._describe(t, principal) for t in tables}
                for db, tables in visible.items() if tables or everything}

    # ---- record writes ---------------------------------------------------------------
    async def write(self, op: dict, principal: Principal | None) -> dict:
        """insert / update / upsert / delete: through the shards, answered when every shard has applied."""
        op = validate_write(op, self.catalog)
        table = self._table(op)
        action = op["operation"]
        job_id = str(uuid.uuid4())
        await self._emit(jobs.event(job_id, "CREATED", type=action, user=principal.username if principal else None))
        splitter = Splitter(self.worker.bus, job_id, table, action, self.worker.shards,
                            self.worker.settings.batch_size, keep_keys=True)
        if action == "delete":
            keys = list(op["hash_values"])
            await splitter.add_keys(keys)
        else:
            records = [dict(r) for r in op["records"]]
            await self._register_attributes(table, set().union(*records) if records else set())
            await splitter.add(records)  # gives keyless records their generated keys
            keys = [r[table.primary_key] for r in records]
        commands = await splitter.finish()
        await self._emit(split_done(job_id, splitter.parsed, commands))
        record = await self.worker.jobs_log.wait_for(self.worker.jobs.final(job_id), timeout=120)
        await self.worker.jobs_log.put(job_id, None)
        # the shards answer in any order; Harper lists keys in the order of the request
        position = {codec.encode_key(codec.normalize_key(k)): i for i, k in reversed(list(enumerate(keys)))}
        detail = record.get("_detail") or {"written": [], "skipped": []}
        written, skipped = (sorted(detail[name], key=lambda k: position[codec.encode_key(codec.normalize_key(k))])
                            for name in ("written", "skipped"))
        if action == "delete":
            return delete_answer(written, skipped)
        return write_answer(action, written, skipped)

    # ---- reads -----------------------------------------------------------------------
    async def search(self, op: dict, principal: Principal | None) -> list:
        """A search answered synchronously: scatter a scan per table read, finish over the gathered rows."""
        plan = search.plan(op, self.catalog, self.worker.settings.duckdb_memory)
        results = [Memory(self.worker.shards) for _ in plan.scans]
        await asyncio.gather(*(self.scan(spec, sink) for spec, sink in zip(plan.scans, results)))
        return list(plan.finish([r.rows() for r in results]))

    async def scan(self, spec: dict, sink: Memory | Spill | None, timeout: float = 600) -> int:
        """Run one scan, ordered after every write before it; its rows go to ``sink``. Returns the row count."""
        scan_id = str(uuid.uuid4())
        queue = self.worker.replies.open(scan_id)
        try:
            await broadcast(self.worker.bus, self.worker.shards,
                            command("SCAN", scan_id, spec["database"], spec["table"], payload=codec.dumps(spec)))
            return await collect(queue, self.worker.shards, timeout, sink)
        finally:
            self.worker.replies.close(scan_id)

    # ---- jobs ----------------------------------------------------------------------
    async def get_job(self, op: dict, principal: Principal | None) -> list:
        job_id = validate_get_job(op)
        await self.worker.jobs_log.catch_up()  # a job submitted through another worker a moment ago
        record = self.worker.jobs.get(job_id)
        return [job_view(record)] if record and record.get("type") not in jobs.WRITE_TYPES else []

    async def search_jobs(self, op: dict, principal: Principal | None) -> list:
        start, end = validate_search_jobs(op)
        return [job_search_view(r) for r in self.worker.jobs.started_between(start, end)
                if r.get("type") not in jobs.WRITE_TYPES]

    # ---- plumbing ------------------------------------------------------------------
    # ---- beyond Harper ----------------------------------------------------------------
    async def snapshot(self, op: dict, principal: Principal | None) -> dict:
        """Checkpoint this worker's shard stores into ``path``/``name``, or under ``s3.key``/``name`` in
        ``s3.bucket`` (see :mod:`pipeline.shard.snapshot`)."""
        name = str(op.get("name") or f"snapshot-{jobs.now_ms()}")
        if "/" in name or name.startswith("."):
            raise HarperError(f"name '{name}' is invalid: it must name a directory inside path")
        if not isinstance(op.get("s3"), dict):
            target = Path(writable_directory(op.get("path"), self.worker.settings.allowed_dirs)) / name
            try:
                manifest = snapshot.take(self.worker.stores, target)
            except FileExistsError as err:
                raise HarperError(str(err)) from None
            return {"message": f"snapshot of {len(manifest['shards'])} shards written to {target}",
                    "path": str(target), "shards": manifest["shards"]}
        bucket = op["s3"].get("bucket")
        if not bucket or not isinstance(bucket, str):
            raise HarperError("s3.bucket is required")
        prefix = "/".join(part for part in (str(op["s3"].get("key") or "").strip("/"), name) if part)
        staging = self.worker.settings.data_dir / "tmp" / f"snapshot-{uuid.uuid4()}"
        manifest = snapshot.take(self.worker.stores, staging)  # on the event loop: no shard changes meanwhile
        try:
            client = s3.client(op["s3"], self.worker.settings)
            await asyncio.to_thread(snapshot.upload, staging, client, bucket, prefix)
        except s3.S3_ERRORS as err:
            raise s3.error(err, bucket, prefix) from None
        except FileExistsError as err:
            raise HarperError(str(err)) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        target = f"s3://{bucket}/{prefix}"
        return {"message": f"snapshot of {len(manifest['shards'])} shards written to {target}",
                "path": target, "shards": manifest["shards"]}

    async def _emit(self, ev: dict, wait: bool = False) -> None:
        future = await self.worker.bus.send_avro("job-status", ev, key=ev["job_id"].encode())
        if wait:
            await future

    async def _dead_letter(self, value: bytes, key: bytes | None, error: str, partition: int, offset: int) -> None:
        """The original bytes, with what went wrong in headers (as Kafka Connect does).

        The one change: S3 credentials are masked, since the dead-letter topic
        is read by more people than ``operations``; a header says so.
        """
        headers = [("error", error.encode()), ("source.topic", self.worker.bus.topic("operations").encode()),
                   ("source.partition", str(partition).encode()), ("source.offset", str(offset).encode())]
        value, masked = _SECRET.subn(rb'\1"***"', value)
        if masked:
            headers.append(("redacted", b"aws credentials"))
        await self.worker.bus.producer.send_and_wait(self.worker.bus.topic("operations-dlq"), value=value,
                                                     key=key, headers=headers)
        log.warning("operation sent to the dead-letter topic", extra={"partition": partition, "offset": offset,
                                                                       "error": error})


def _job_error(job_id: str, op: dict, err: Exception) -> str:
    """The message a job that failed with ``err`` ends with."""
    if isinstance(err, HarperError):
        return err.message
    if isinstance(err, (CsvError, JsonSourceError)):
        return str(err)
    if isinstance(err, OSError):
        what = f"could not write {op.get('file', op.get('path'))}" if op.get("operation") in EXPORTS \
            else f"could not read {op.get('file_path')}"
        return f"{what}: {err.strerror or err}"
    log.error("job failed", exc_info=err, extra={"job_id": job_id, "operation": op.get("operation")})
    return f"{op.get('operation')} failed: {err}"


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


def _resume_point(checkpoint: dict | None) -> str:
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
