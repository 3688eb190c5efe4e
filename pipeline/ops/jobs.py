"""The job operations: a bulk operation made a job (submit), get_job and search_jobs_by_start_date.

A job is submitted by making its operation durable on ``operations``, keyed
by its new id; it runs wherever that message is consumed
(:mod:`pipeline.ops.intake`). Its record, folded from its events, is in the
``jobs`` topic every worker follows, so any worker answers for any job.
"""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import codec
from ..auth.directory import Principal
from ..config import MAX_MESSAGE_BYTES
from ..contract.answers import job_search_view, job_view, operation_too_large, starting_job
from ..contract.errors import HarperError
from ..contract.validate_jobs import validate_get_job, validate_job, validate_search_jobs
from ..jobs.events import ERROR, emit, event
from ..jobs.fold import fold
from ..jobs.view import JobsView
from ..kafka.bus import Bus
from ..kafka.logview import LogView
from ..sources.data import SpooledData, publish_chunks
from .tables import Tables

#: room left in a message for what the producer adds around a job's envelope
ENVELOPE_HEADROOM = 64 * 1024


class JobOperations:
    def __init__(self, tables: Tables, bus: Bus, jobs: JobsView, jobs_log: LogView,
                 allowed_dirs: Sequence[Path]) -> None:
        self.tables = tables
        self.bus = bus
        self.jobs = jobs
        self.jobs_log = jobs_log
        self.allowed_dirs = allowed_dirs
        self.handlers: dict[str, Callable[[dict, Principal | None], Any]] = {
            "get_job": self.get_job, "search_jobs_by_start_date": self.search_jobs}

    async def submit(self, op: dict, user: str | None) -> dict:
        """Validate a bulk operation, make it durable on ``operations``, answer with its job id.

        Everything that can refuse the request happens before the job's record is written: a refused
        request leaves no job behind. A csv_data_load's large data goes ahead as chunks (see
        :mod:`pipeline.sources.data`); the operation carries where they are.
        """
        op = validate_job(op, self.tables.catalog, self.allowed_dirs)
        job_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {"job_id": job_id, "user": user, "request": op}
        if isinstance(op.get("data"), SpooledData):
            chunks = await publish_chunks(self.bus, job_id, op["data"])
            envelope.update(request={k: v for k, v in op.items() if k != "data"}, data=chunks.reference())
        message = codec.dumps(envelope)
        limit = MAX_MESSAGE_BYTES - ENVELOPE_HEADROOM
        if len(message) > limit:
            raise HarperError(operation_too_large(len(message), limit), 413)
        created = event(job_id, "CREATED", type=op["operation"], user=user)
        await emit(self.bus, created, wait=True)
        # the record exists before the answer, so a get_job right after it (through any worker) finds the job
        await self.jobs_log.put(job_id, fold(None, created)[0])
        try:
            await self.bus.send_and_wait("operations", message, key=job_id.encode())
        except Exception as err:  # noqa: BLE001 - the job exists: it must end, not wait forever
            await emit(self.bus, event(job_id, "ERROR", ERROR, message=f"the job could not be queued: {err}"))
            raise HarperError(f"Job {job_id} could not be queued: {err}", 500) from None
        return starting_job(job_id)

    async def get_job(self, op: dict, principal: Principal | None) -> list:
        job_id = validate_get_job(op)
        await self.jobs_log.catch_up()  # a job submitted through another worker a moment ago
        record = self.jobs.get(job_id)
        return [job_view(record)] if record else []

    async def search_jobs(self, op: dict, principal: Principal | None) -> list:
        start, end = validate_search_jobs(op)
        return [job_search_view(r) for r in self.jobs.started_between(start, end)]
