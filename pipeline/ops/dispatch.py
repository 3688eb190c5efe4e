"""Harper's operations, executed by a worker: the one dispatcher behind the HTTP API and the ``operations`` topic.

Bulk operations become jobs: the caller gets the job id at once and the job
runs wherever its ``operations`` message is consumed. Everything else is
answered directly. An operation that arrives on the topic (not through the
API) is still a job, so its outcome can be read with ``get_job``.

Each family of operations is a module of this package holding the handlers
it answers; this module builds them from what the worker holds, checks
permissions, and routes.
"""
from __future__ import annotations

from typing import Any, Callable

from ..auth.directory import Principal
from ..auth.policy import Authorizer
from ..contract.errors import INVALID_JSON, MISSING_OPERATION, operation_not_found
from ..contract.names import with_numeric_names
from ..contract.operations import AUDIT, DELETE_BEFORE, EXPORTS, JOB_OPERATIONS
from ..contract.permissions import SUPER_USER_ONLY
from ..contract.validate_jobs import validate_job
from ..contract.validate_sql import DML, parse, references, validate_sql
from ..errors import PipelineError
from ..jobs.events import ERROR, emit, event
from ..query.gather import Scanner
from ..runtime import Worker
from .catalog import CatalogOperations
from .deletes import Deletes
from .errors import answer_for, job_error
from .exports import Exports
from .intake import Intake
from .jobs import JobOperations
from .loads import Loads
from .reads import Reads
from .rowstream import RowStream
from .snapshot import Snapshots
from .system import system_views
from .tables import Tables
from .users import UserOperations
from .writes import Writes


class Operations:
    def __init__(self, worker: Worker) -> None:
        settings, shards = worker.settings, worker.settings.shard_partitions
        self.bus = worker.bus
        self.settings = settings
        self.directory = worker.directory
        self.tables = Tables(worker.catalog, worker.catalog_log, settings.max_attributes)
        self.authorizer = Authorizer(worker.catalog)
        scanner = Scanner(worker.bus, worker.replies, shards, system_views(worker))
        self.jobs = JobOperations(self.tables, worker.bus, worker.jobs, worker.jobs_log, settings.allowed_dirs)
        self.loads = Loads(settings, worker.bus, self.tables, self.authorizer, worker.jobs, worker.jobs_log,
                           worker.metrics)
        self.exports = Exports(settings, worker.bus, self.tables, scanner, worker.metrics)
        self.deletes = Deletes(worker.bus, self.tables, shards)
        self.intake = Intake(worker.bus, worker.jobs, worker.jobs_log, self.call, self.run_job)
        self.reads = Reads(self.tables, self.authorizer, scanner, settings.duckdb_memory, settings.data_dir / "tmp")
        self.writes = Writes(self.tables, worker.bus, worker.replies, shards, settings.batch_size,
                             settings.max_record_bytes)
        self._sync: dict[str, Callable[[dict, Principal | None], Any]] = {
            **CatalogOperations(self.tables, worker.bus, shards).handlers,
            **self.reads.handlers,
            **self.writes.handlers,
            "sql": self.sql,
            **self.jobs.handlers,
            **Snapshots(worker.stores, settings).handlers,
            **UserOperations(worker.directory, worker.auth_log, worker.catalog).handlers,
        }

    async def call(self, op: Any, principal: Principal | None) -> Any:
        """Answer one operation body as ``principal`` (None: from the topic, trusted). Raises HarperError.

        A search's answer is a :class:`RowStream`, its rows read as they are sent."""
        try:
            answer = await self._call(op, principal)
            if isinstance(answer, RowStream):
                await answer.start()  # its first rows: an error of the search's last stage is an error answer
            return answer
        except PipelineError as err:
            answer = answer_for(err)
            if answer is None or answer is err:
                raise
            raise answer from None

    async def _call(self, op: Any, principal: Principal | None) -> Any:
        if not isinstance(op, dict):
            raise INVALID_JSON()
        name = op.get("operation")
        if name is None:
            raise MISSING_OPERATION()
        handler = self._sync.get(name)
        if handler is None and name not in JOB_OPERATIONS and name not in SUPER_USER_ONLY:
            raise operation_not_found(name)
        await self.tables.catch_up()  # see catalog changes made through any worker
        op = self.authorizer.narrow(with_numeric_names(op), principal)
        self.authorizer.check(op, principal, references)  # Harper checks permissions before anything else
        if name in JOB_OPERATIONS:
            return await self.jobs.submit(op, principal.username if principal else None)
        if handler is None:
            raise operation_not_found(name)
        return await handler(op, principal)

    async def sql(self, op: dict, principal: Principal | None) -> Any:
        """SQL: a SELECT is a search; INSERT, UPDATE and DELETE are writes."""
        statement = parse(validate_sql(op))
        if isinstance(statement, DML):
            return await self.writes.sql(statement, principal)
        return await self.reads.search(op, principal)

    async def run_job(self, job_id: str, op: dict, user: str | None = None, resumed: bool = False,
                      checkpoint: dict | None = None) -> None:
        """Run a bulk job to the point where its shards take over; failures end the job in ERROR.

        ``user``: who the API authenticated; a load checks its columns against that user's role.
        ``resumed``: another worker started the job; ``checkpoint``: where its load had got to.
        """
        try:
            await self.tables.catch_up()
            op = validate_job(op, self.tables.catalog, self.settings.allowed_dirs)
            if op["operation"] in EXPORTS:
                principal = self.directory.principal(user)
                await self.exports.run(job_id, op, lambda table: self.authorizer.readable(principal, table))
            elif op["operation"] in DELETE_BEFORE:
                await self.deletes.run(job_id, op)
            elif op["operation"] in AUDIT:
                await self.deletes.run_audit(job_id, op)
            else:
                await self.loads.run(job_id, op, self.directory.principal(user), resumed, checkpoint)
        except Exception as err:  # noqa: BLE001 - the worker must survive any one job
            await emit(self.bus, event(job_id, "ERROR", ERROR, message=job_error(job_id, op, err)))
