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
from ..contract.answers import job_search_view, job_view, starting_job
from ..contract.validate_jobs import validate_get_job, validate_job, validate_search_jobs
from ..jobs.events import emit, event
from ..jobs.fold import fold
from ..jobs.view import JobsView
from ..kafka.bus import Bus
from ..kafka.logview import LogView
from .tables import Tables


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
        """Validate a bulk operation, make it durable on ``operations``, answer with its job id."""
        op = validate_job(op, self.tables.catalog, self.allowed_dirs)
        job_id = str(uuid.uuid4())
        created = event(job_id, "CREATED", type=op["operation"], user=user)
        await emit(self.bus, created, wait=True)
        # the record exists before the answer, so a get_job right after it (through any worker) finds the job
        await self.jobs_log.put(job_id, fold(None, created)[0])
        envelope = {"job_id": job_id, "user": user, "request": op}
        await self.bus.send_and_wait("operations", codec.dumps(envelope), key=job_id.encode())
        return starting_job(job_id)

    async def get_job(self, op: dict, principal: Principal | None) -> list:
        job_id = validate_get_job(op)
        await self.jobs_log.catch_up()  # a job submitted through another worker a moment ago
        record = self.jobs.get(job_id)
        return [job_view(record)] if record else []

    async def search_jobs(self, op: dict, principal: Principal | None) -> list:
        start, end = validate_search_jobs(op)
        return [job_search_view(r) for r in self.jobs.started_between(start, end)]
