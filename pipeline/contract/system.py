"""Harper's ``system`` database: its tables, the rows each shows, and what Harper answers to a change.

Here the system tables are views of what the pipeline already keeps in its
compacted topics (jobs, users, roles) and of the worker itself: read-only to
``search_*``, ``sql`` and ``describe_*``, for super users only. A row never
carries a password hash, a job's request (which may hold S3 credentials) or
anything else a table's attributes do not name: each row is built from a
list of the fields it may show, not by removing the ones it may not.

Harper lets a super user insert, update and delete ``hdb_nodes``,
``hdb_role`` and ``hdb_user`` records directly; here nothing writes to the
system database (users and roles change through their operations, which
check permissions and hash passwords; there is no cluster of Harper nodes).
"""
from __future__ import annotations

from typing import Any, Iterable

from .answers import job_view, table_missing
from .errors import HarperError
from .operations import AUDIT, DELETE_BEFORE, LOADS
from .permissions import load_permissions, not_authorized, required_permissions

SYSTEM = "system"

DROP_SYSTEM = ("The 'system' database, tables and records are used internally by HarperDB and cannot be updated "
               "or removed.")

#: table -> (primary key, attributes in Harper's order); ``result`` is a job's export result, and ``request``
#: (the job's request body) is left out on purpose
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "hdb_job": ("id", ("id", "__createdtime__", "__updatedtime__", "created_datetime", "end_datetime", "message",
                       "result", "start_datetime", "status", "type", "user")),
    "hdb_user": ("username", ("username", "__createdtime__", "__updatedtime__", "active", "hash", "hash_function",
                              "password", "refresh_token", "role")),
    "hdb_role": ("id", ("id", "__createdtime__", "__updatedtime__", "permission", "role")),
    "hdb_info": ("info_id", ("info_id", "__createdtime__", "__updatedtime__", "data_version_num", "hdb_version_num")),
    "hdb_nodes": ("name", ("name", "subscriptions", "system_info", "url", "routes", "ca", "ca_info", "replicates",
                           "revoked_certificates", "__createdtime__", "__updatedtime__")),
    "hdb_certificate": ("name", ("name", "__updatedtime__", "certificate", "details", "is_authority",
                                 "is_self_signed", "private_key_name", "uses")),
}

#: the operations that would change the system database
CHANGES = frozenset({"insert", "update", "upsert", "delete", "create_table", "create_attribute", "drop_table",
                     "drop_attribute", "drop_database", "drop_schema"}) | LOADS | DELETE_BEFORE | AUDIT
DESCRIBES = frozenset({"describe_table", "describe_database", "describe_schema"})


def _pick(record: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    return {name: record[name] for name in names if name in record}


def job_row(record: dict[str, Any]) -> dict[str, Any]:
    """A job as ``system.hdb_job`` shows it: get_job's fields, with the record's times."""
    row = job_view(record)
    times = [row[k] for k in ("created_datetime", "start_datetime", "end_datetime") if row.get(k) is not None]
    if times:
        row["__createdtime__"], row["__updatedtime__"] = times[0], max(times)
    return row


def user_row(user: dict[str, Any]) -> dict[str, Any]:
    """A user as ``system.hdb_user`` shows it: never its password hash (``password``/``hash`` stay null)."""
    return _pick(user, ("username", "active", "role", "__createdtime__", "__updatedtime__"))


def role_row(role: dict[str, Any]) -> dict[str, Any]:
    return _pick(role, ("id", "role", "permission", "__createdtime__", "__updatedtime__"))


def info_row(version: str, started: float) -> dict[str, Any]:
    """``system.hdb_info``: the version of what answers (this pipeline's), since the worker started."""
    return {"info_id": 1, "data_version_num": version, "hdb_version_num": version, "__createdtime__": started,
            "__updatedtime__": started}


def refuse_change(operation: str, table: Any, action: Any = None) -> HarperError:
    """Harper's 403 for a change to the system database, whoever asks: its permission answer for what
    would add records (no role, the super user's included, may insert there), "used internally" for the rest."""
    if operation in ("insert", "create_attribute"):
        needs: tuple[str, ...] = ("insert",)
    elif operation in LOADS:
        needs = load_permissions(action)
    else:
        return HarperError(DROP_SYSTEM, 403)
    return not_authorized([required_permissions(SYSTEM, str(table), list(needs), [])], [])


def refuse_read(table: str, needs: Iterable[str]) -> HarperError:
    """Only super users read the system database, whatever a role grants on it (as in Harper)."""
    return not_authorized([required_permissions(SYSTEM, table, list(needs), [])], [])


def refuse_unknown(table: Any) -> HarperError:
    """A table the system database does not have: Harper's 403, for super users too."""
    return not_authorized([], [table_missing(SYSTEM, table)])


def refuse_metadata() -> HarperError:
    return not_authorized([f"Your role does not have permission to view database metadata for '{SYSTEM}'"], [])
