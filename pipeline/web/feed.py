"""What the jobs page shows of the jobs view, and to whom (pure).

Harper lets any user read any job by its id (``get_job``) but lets only a
super user list jobs (``search_jobs_by_start_date``). The page lists jobs,
so a super user sees every job, and any other user only the jobs they
submitted themselves: jobs whose ids they were given, which ``get_job``
would show them. Each job is shown as ``get_job`` shows it (Harper's fields:
the record's bookkeeping, the request and the source's position never leave
the worker, and the message was redacted when the event was made, see
:mod:`pipeline.redact`), with its progress.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..auth.directory import Principal
from ..contract.answers import job_view
from ..jobs.events import FINAL
from ..jobs.progress import progress

#: how far back the page lists jobs that have ended (a running job is listed however old)
WINDOW_MS = 24 * 3600 * 1000
#: the most jobs the page lists (the newest)
MAX_JOBS = 500


def visible(principal: Principal, record: Mapping[str, Any]) -> bool:
    return principal.super_user or record.get("user") == principal.username


def page_job(record: Mapping[str, Any]) -> dict[str, Any]:
    return {**job_view(dict(record)), "progress": progress(record).to_json()}


def recent(principal: Principal, records: Iterable[Mapping[str, Any]], now_ms: int) -> list[dict[str, Any]]:
    """The jobs the page lists for ``principal``: running ones, and those created in the last day; newest first."""
    since = now_ms - WINDOW_MS
    listed = [r for r in records if visible(principal, r)
              and (r.get("status") not in FINAL or (r.get("created_datetime") or 0) >= since)]
    listed.sort(key=lambda r: r.get("created_datetime") or 0, reverse=True)
    return [page_job(r) for r in listed[:MAX_JOBS]]
