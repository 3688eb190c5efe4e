"""The system database as a worker serves it: each of Harper's system tables defined in the catalog and read
from the view this worker already keeps (jobs, users, roles), never from the shards."""
from __future__ import annotations

from importlib import metadata

from ..contract.system import SYSTEM, TABLES, info_row, job_row, role_row, user_row
from ..jobs.events import now_ms
from ..query.views import Rows, TableViews
from ..runtime import Worker


def _version() -> str:
    try:
        return metadata.version("harper-pipeline")
    except metadata.PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown"


def system_views(worker: Worker) -> TableViews:
    """Define the system tables in the worker's catalog; the views that serve their rows."""
    jobs, directory = worker.jobs, worker.directory
    info = info_row(_version(), now_ms())
    rows: dict[str, Rows] = {
        "hdb_job": lambda: [job_row(r) for r in list(jobs.records.values())],
        "hdb_user": lambda: [user_row(u) for u in list(directory.users.values())],
        "hdb_role": lambda: [role_row(r) for r in list(directory.roles.values())],
        "hdb_info": lambda: [info],
    }
    views = TableViews()
    for name, (primary_key, attributes) in TABLES.items():
        worker.catalog.define_view(SYSTEM, name, primary_key, attributes)
        views.register(SYSTEM, name, primary_key, rows.get(name, list))
    return views
