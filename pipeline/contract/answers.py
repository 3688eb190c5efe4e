"""Every message and answer shape Harper gives, in one place.

The texts are Harper 4.7's, including its oddities that clients match on;
where ``shared/harper/DECISIONS.md`` decides to fix a quirk, the fix is here
too and says so.
"""
from __future__ import annotations

from typing import Any, Iterable

from ..catalog import TableDef
from .dates import iso_ms

UPDATE_NEEDS_KEY = "a valid hash attribute must be provided with update record"
NO_RECORDS_PARSED = "No records parsed from csv file."


def database_missing(database: str) -> str:
    return f"database '{database}' does not exist"


def table_missing(database: str, table: str) -> str:
    return f"Table '{database}.{table}' does not exist"


def loaded_message(written: int, parsed: int) -> str:
    return f"successfully loaded {written} of {parsed} records"


def deleted_before_message(deleted: int, total: int) -> str:
    if total == 0:
        return "No records found to delete"
    return f"{deleted} of {total} {'record' if total == 1 else 'records'} successfully deleted"


def cannot_requeue(operation: Any, interrupted: str, reason: str) -> str:
    """Ours: a job whose message was lost (the embedded broker forgets its log; or no worker was handed it), that
    cannot be queued again."""
    return f"{operation} was interrupted {interrupted} and cannot be resumed: {reason}; resubmit it"


def no_audit_log_message(database: str, table: str) -> str:
    """Ours: delete_audit_logs_before on a table here (``audit`` is false: ``shard-log`` is the only history)."""
    return (f"no audit log to delete: table '{database}.{table}' keeps no audit log here "
            "(its history is the shard-log topic, which is never trimmed)")


def load_result(source: dict | None) -> dict | None:
    """Ours, beside Harper's message: how a load's source was read, when there is something to know.

    ``source`` is where the reader ended (its position): how many rows had
    more cells than the header (their extra cells are kept in
    ``__parsed_extra``, as Harper keeps them) and on which lines the first
    were, and the text encoding when it is not UTF-8 (detected, or the
    operation's ``encoding``). None otherwise: the job record is Harper's.
    """
    source = source or {}
    result: dict = {}
    if source.get("ragged"):
        result["rows_with_extra_cells"] = source["ragged"]
        result["first_lines_with_extra_cells"] = source.get("ragged_lines", [])
    if source.get("encoding") not in (None, "utf-8", "ascii"):
        result["encoding"] = source["encoding"]
    return result or None


def resume_failed(point: str, reason: str) -> str:
    """Ours: a load whose worker stopped could not read its source again to carry on."""
    return (f"the worker running this job stopped; another worker took the job over to resume it {point}, "
            f"but could not read its source again: {reason}")


def outside_allowed_dirs(file_path: str) -> str:
    return (f"Permission denied {file_path}: files can only be loaded from the directories this pipeline is "
            "configured to read (PIPELINE_ALLOWED_DIRS)")


def not_a_regular_file(file_path: str) -> str:
    """Ours: Harper opens a FIFO (and waits for a writer) or reads a device."""
    return f"{file_path} is not a regular file: a FIFO, socket or device cannot be loaded"


def too_many_attributes(table: str, count: int, limit: int) -> str:
    """Ours: Harper registers every new attribute, however many."""
    return (f"table '{table}' would have {count} attributes, more than the limit of {limit} "
            "(PIPELINE_MAX_ATTRIBUTES)")


def csv_url_failed(url: str, detail: str) -> str:
    return f"CSV Load failed from URL: {url}, {detail}"


def csv_url_status(url: str, status: int, reason: str) -> str:
    return csv_url_failed(url, f"status code: {status}, message: {reason}")


def completed_job_message(job_id: str) -> str:
    return f"Successfully completed job: {job_id}"


def body_too_large(size: str, limit: int) -> str:
    """Ours: Harper (fastify) answers 413 ``Request body is too large`` past its 1 GiB ``bodyLimit``."""
    return f"Request body is too large: {size} bytes, more than the limit of {limit} bytes (PIPELINE_MAX_BODY_BYTES)"


def json_body_too_large(size: int, limit: int) -> str:
    return (f"Request body is too large: {size} bytes, more than the limit of {limit} bytes for operations other "
            "than csv_data_load (PIPELINE_MAX_JSON_BODY_BYTES); load bulk data with csv_data_load, csv_file_load, "
            "csv_url_load or import_from_s3")


def operation_too_large(size: int, limit: int) -> str:
    return (f"the operation is too large to queue as a job: {size} bytes, more than {limit}; only a "
            "csv_data_load's data may be larger")


def starting_job(job_id: str) -> dict:
    return {"message": f"Starting job with id {job_id}", "job_id": job_id}


def created_database_message(database: str) -> str:
    return f"database '{database}' successfully created"


def created_table_message(database: str, table: str) -> str:
    return f"table '{database}.{table}' successfully created."


def dropped_table_message(database: str, table: str) -> str:
    return f"successfully deleted table '{database}.{table}'"


def dropped_database_message(database: str) -> str:
    return f"successfully deleted '{database}'"


def created_attribute_message(database: str, table: str, attribute: str) -> str:
    return f"attribute '{database}.{table}.{attribute}' successfully created."


def dropped_attribute_message(attribute: str) -> str:
    return f"successfully deleted attribute '{attribute}'"


def describe_table_answer(table: TableDef, record_count: int, shown: Iterable[str]) -> dict:
    """``shown``: the attributes the caller's role may see."""
    attributes = []
    for name in shown:
        entry: dict[str, Any] = {"attribute": name}
        if name == table.primary_key:
            entry.update(is_primary_key=True)
        else:
            entry.update(indexed=True)
        attributes.append(entry)
    return {"schema": table.database, "name": table.name, "hash_attribute": table.primary_key,
            "audit": False, "schema_defined": table.view, "attributes": attributes, "record_count": record_count,
            "db_size": 0, "table_size": 0, "db_audit_size": 0}


def write_answer(action: str, written: list, skipped: list) -> dict:
    total = len(written) + len(skipped)
    if action == "insert":
        return {"message": f"inserted {len(written)} of {total} records", "inserted_hashes": written,
                "skipped_hashes": skipped}
    if action == "update":
        return {"message": f"updated {len(written)} of {total} records", "update_hashes": written,
                "skipped_hashes": skipped}
    return {"message": f"upserted {len(written)} of {len(written)} records", "upserted_hashes": written}


def delete_answer(deleted: list, skipped: list) -> dict:
    total = len(deleted) + len(skipped)
    noun = "record" if total == 1 else "records"
    return {"message": f"{len(deleted)} of {total} {noun} successfully deleted", "deleted_hashes": deleted,
            "skipped_hashes": skipped}


# Ours: Harper answers these with "Invalid SQL at: ..." (400) or "unsupported SQL type ..." (500); here they are
# one 400 each, saying what SQL may read.
_SQL_SCOPE = "SQL reads only database.table references (and subqueries over them)"


def sql_statement_refused(keyword: str) -> str:
    return f"Only SELECT, INSERT, UPDATE and DELETE statements are supported here, not {keyword}"


def sql_source_refused(source: str) -> str:
    return f"Invalid SQL: '{source}' cannot be read: {_SQL_SCOPE}; table functions and LATERAL are not supported"


def sql_function_refused(name: str) -> str:
    return f"Invalid SQL: the function {name}() is not available: {_SQL_SCOPE} and no settings or environment"


JOB_FIELDS = ("id", "type", "status", "user", "created_datetime", "start_datetime", "end_datetime", "message",
              "result")


def job_view(record: dict) -> dict:
    """A job as ``get_job`` shows it: Harper's fields only, never bookkeeping or requests."""
    return {k: record[k] for k in JOB_FIELDS if k in record and (k != "result" or record[k] is not None)}


def job_search_view(record: dict) -> dict:
    view = job_view(record)
    for name in ("start_datetime", "end_datetime"):
        if view.get(name) is not None:
            view[f"{name}_converted"] = iso_ms(view[name])
    return view


def export_result(fmt: str, path: str) -> dict:
    return {"message": f"Successfully exported {fmt.upper()} locally.", "path": path}


def user_missing(username: str) -> str:
    return f"User {username} does not exist"


def user_added_message(username: str) -> str:
    return f"{username} successfully added"


def deleted_message(name: str) -> str:
    return f"{name} successfully deleted"


def altered_user_answer(username: str) -> dict:
    return {"message": "updated 1 of 1 records", "update_hashes": [username], "skipped_hashes": []}
