"""Harper's contract in one module: request validation, error texts, messages and answer shapes.

Every Harper string the pipeline answers with comes from here. The texts are
Harper 4.7's, including its oddities that clients match on (``Data  is
required`` with two spaces); where ``shared/harper/DECISIONS.md`` decides to
fix a quirk, the fix is here too and says so.
"""
from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import urlparse

from .catalog import Catalog, TableDef

ACTIONS = ("insert", "update", "upsert")
LOADS = frozenset({"csv_data_load", "csv_file_load", "csv_url_load", "import_from_s3"})
DELETE_BEFORE = frozenset({"delete_records_before", "delete_files_before"})
EXPORTS = frozenset({"export_local", "export_to_s3"})
JOB_OPERATIONS = LOADS | DELETE_BEFORE | EXPORTS

# Harper's name rule: printable ASCII except "/" and "`" (validate.js and Joi alike)
_NAME = re.compile(r"[\x20-\x2E\x30-\x5F\x61-\x7E]*")
UPDATE_NEEDS_KEY = "a valid hash attribute must be provided with update record"
NO_RECORDS_PARSED = "No records parsed from csv file."


class HarperError(Exception):
    """An answer Harper gives as an error: ``{"error": message}`` with an HTTP status."""

    def __init__(self, message: str | dict, status: int = 400) -> None:
        super().__init__(message if isinstance(message, str) else message.get("error", "error"))
        self.message = message
        self.status = status

    def body(self) -> dict:
        return self.message if isinstance(self.message, dict) else {"error": self.message}


def INVALID_JSON() -> HarperError:  # noqa: N802 - reads as the constant it stands for
    return HarperError("Invalid JSON.")


def MISSING_OPERATION() -> HarperError:  # noqa: N802
    return HarperError("Request body must include an 'operation' property.")


def operation_not_found(name: Any) -> HarperError:
    return HarperError(f"Operation '{name}' not found")


def database_missing(database: str) -> str:
    return f"database '{database}' does not exist"


def table_missing(database: str, table: str) -> str:
    return f"Table '{database}.{table}' does not exist"


# ---- requests ------------------------------------------------------------------------------
def with_database(op: dict) -> dict:
    """Harper's ``transformReq`` on a copy: ``database`` wins over ``schema``; neither means ``data``."""
    op = dict(op)
    database = op.get("database") if op.get("database") is not None else op.get("schema")
    if database is None:
        database = "data"
    op["database"] = op["schema"] = database
    return op


def _check_table_exists(catalog: Catalog, database: Any, table: Any, status: int = 400) -> TableDef:
    if not catalog.has_database(str(database)):
        raise HarperError(database_missing(database), status)
    found = catalog.table(str(database), str(table))
    if found is None:
        raise HarperError(table_missing(database, table), status)
    return found


def _validatejs_name(label: str, value: Any) -> list[str]:
    """validate.js constraints on table / schema / database names (csv_data_load, csv_file_load, import_from_s3)."""
    if value is None:
        return [f"{label} can't be blank"] if label == "Table" else []
    errors = []
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        errors.append(f"{label} names cannot include backticks or forward slashes")
    if not isinstance(value, str):
        errors.append(f"{label} has an incorrect length")
    elif len(value) < 1:
        errors.append(f"{label} is too short (minimum is 1 characters)")
    elif len(value) > 250:
        errors.append(f"{label} cannot exceed 250 characters")
    return errors


def _joi_name(label: str, value: Any, required: bool = True) -> list[str]:
    if value is None:
        return [f"'{label}' is required"] if required else []
    if not isinstance(value, str):
        return [f"'{label}' must be a string"]
    if not _NAME.fullmatch(value):
        return [f"'{label}' names cannot include backticks or forward slashes"]
    return []


def _s3_errors(s3: Any) -> list[str]:
    """validate.js's S3 messages. Beyond Harper: both keys may be left out, to use the worker's credentials."""
    errors = [] if s3 not in (None, "") else ["S3 can't be blank"]
    s3 = s3 if isinstance(s3, dict) else {}
    own_credentials = bool(s3) and s3.get("aws_access_key_id") is None and s3.get("aws_secret_access_key") is None
    for field, label in (("aws_access_key_id", "aws access key id"), ("aws_secret_access_key", "aws secret access key"),
                         ("bucket", "bucket"), ("key", "key"), ("region", "region")):
        value = s3.get(field)
        if field.startswith("aws_") and own_credentials:
            continue
        if value in (None, ""):
            errors.append(f"S3 {label} can't be blank")
        elif not isinstance(value, str):
            errors.append(f"S3 {label}  must be a 'String' value")
    key = s3.get("key")
    if isinstance(key, str) and key and not (key.endswith(".csv") or key.endswith(".json")):
        errors.append("S3 key must include one of the following valid file extensions - '.csv', '.json'")
    return errors


def validate_job(op: dict, catalog: Catalog, allowed_dirs: Sequence[Path]) -> dict:
    """What Harper checks before it creates a job (the answer is a 400 and no job)."""
    op = with_database(op)
    name = op.get("operation")
    if name in DELETE_BEFORE:
        return validate_delete_before(op)
    if name in EXPORTS:
        return op
    if name not in LOADS:
        raise operation_not_found(name)
    action = op.get("action")
    if action is None:
        action = op["action"] = "insert"
    if name == "csv_url_load":
        errors = _joi_name("schema", op.get("database")) + _joi_name("table", op.get("table"))
        if action not in ACTIONS:
            errors.append("'action' must be one of [insert, update, upsert]")
        url = op.get("csv_url")
        if url is None:
            errors.append("'csv_url' is required")
        elif not isinstance(url, str) or not _is_url(url):
            errors.append("'csv_url' must be a valid url")
        if errors:
            raise HarperError(". ".join(errors))
    else:
        errors = _validatejs_name("Schema", op.get("schema")) + _validatejs_name("Table", op.get("table"))
        if action not in ACTIONS:
            errors.append("Action is required and must be either insert, update, or upsert")
        if name == "csv_data_load" and op.get("data") is None:
            errors.append("Data  is required")
        if name == "csv_file_load" and op.get("file_path") is None:
            errors.append("File path  is required")
        if name == "import_from_s3":
            errors += _s3_errors(op.get("s3"))
        if errors:
            raise HarperError(",".join(dict.fromkeys(errors)))
        if name == "csv_data_load" and not isinstance(op["data"], str):
            raise HarperError("Data must be a string")
    _check_table_exists(catalog, op["database"], op["table"])
    if name == "csv_file_load":
        check_readable(op["file_path"], allowed_dirs)
    return op


def _is_url(text: str) -> bool:
    parsed = urlparse(text)
    return bool(parsed.scheme and parsed.netloc) and " " not in text


def check_readable(file_path: Any, allowed_dirs: Sequence[Path]) -> Path:
    """Harper's file checks, then ours: the file must lie under an allowed directory."""
    if not isinstance(file_path, str):
        raise HarperError("File path must be a string")
    path = Path(file_path)
    if not path.exists():
        raise HarperError(f"No such file or directory {file_path}")
    if not os.access(path, os.R_OK):
        raise HarperError(f"Permission denied {file_path}")
    if not _inside(path, allowed_dirs):
        raise HarperError(f"Permission denied {file_path}: files can only be loaded from the directories "
                          "this pipeline is configured to read (PIPELINE_ALLOWED_DIRS)")
    if path.is_dir():
        raise HarperError(f"{file_path} is a directory, not a file")
    return path


def _inside(path: Path, allowed_dirs: Sequence[Path]) -> bool:
    real = path.resolve()
    return any(real == d or d in real.parents for d in (Path(a).resolve() for a in allowed_dirs))


def check_column_names(names: Iterable[str]) -> None:
    for name in names:
        if not _NAME.fullmatch(name):
            raise HarperError(f"Invalid column name '{name}', cancelling load operation")


# ---- dates ---------------------------------------------------------------------------------
_ISO = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?"
                  r"(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?)?"
                  r"(Z|[+-]\d{2}(?::?\d{2})?)?")


def parse_iso_date(text: Any) -> float | None:
    """Epoch ms of an ISO-8601 text as JavaScript's ``Date.parse`` reads it; None if it is not one.

    A date alone is UTC midnight; a date-time without an offset is local time.
    """
    if not isinstance(text, str):
        return None
    match = _ISO.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if hour is not None and minute is None:
        return None
    try:
        moment = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                          int(second or 0), int((fraction or "0")[:6].ljust(6, "0")))
    except ValueError:
        return None
    if zone is not None:
        if zone == "Z":
            moment = moment.replace(tzinfo=timezone.utc)
        else:
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            offset = sign * (int(digits[:2]) * 60 + int(digits[2:4] or 0))
            moment = moment.replace(tzinfo=timezone.utc) - timedelta(minutes=offset)
            return moment.timestamp() * 1000.0
    elif hour is None:
        moment = moment.replace(tzinfo=timezone.utc)
    else:
        moment = moment.astimezone()  # local time, as JavaScript reads a date-time without an offset
    return moment.timestamp() * 1000.0


def iso_ms(epoch_ms: float) -> str:
    """How JavaScript prints a Date: ``2021-01-25T22:21:24.781Z``."""
    moment = datetime.fromtimestamp(epoch_ms / 1000.0, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def validate_delete_before(op: dict) -> dict:
    op = with_database(op)
    errors = _joi_name("table", op.get("table"))
    if op.get("date") is None:
        errors.append("'date' is required")
    elif parse_iso_date(op["date"]) is None:
        errors.append("'date' must be in ISO 8601 date format")
    if errors:
        raise HarperError(". ".join(errors))
    return op


# ---- messages ------------------------------------------------------------------------------
def loaded_message(written: int, parsed: int) -> str:
    return f"successfully loaded {written} of {parsed} records"


def deleted_before_message(deleted: int, total: int) -> str:
    if total == 0:
        return "No records found to delete"
    return f"{deleted} of {total} {'record' if total == 1 else 'records'} successfully deleted"


def resume_failed(point: str, reason: str) -> str:
    """Ours: a load whose worker stopped could not read its source again to carry on."""
    return (f"the worker running this job stopped; another worker took the job over to resume it {point}, "
            f"but could not read its source again: {reason}")


def csv_url_failed(url: str, detail: str) -> str:
    return f"CSV Load failed from URL: {url}, {detail}"


def csv_url_status(url: str, status: int, reason: str) -> str:
    return csv_url_failed(url, f"status code: {status}, message: {reason}")


#: DECISIONS #4: Harper compares the content type exactly; parameters (charset) are accepted here
CSV_CONTENT_TYPES = ("text/csv", "application/octet-stream", "text/plain", "application/vnd.ms-excel")


def completed_job_message(job_id: str) -> str:
    return f"Successfully completed job: {job_id}"


def starting_job(job_id: str) -> dict:
    return {"message": f"Starting job with id {job_id}", "job_id": job_id}


# ---- databases and tables ------------------------------------------------------------------
def validate_create_database(op: dict, catalog: Catalog) -> str:
    database = op.get("database") if op.get("database") is not None else op.get("schema", "data")
    errors = _joi_name("database", database)
    if errors:
        raise HarperError(". ".join(errors))
    if catalog.has_database(database):
        raise HarperError(f"database '{database}' already exists")
    return database


def validate_create_table(op: dict, catalog: Catalog) -> tuple[str, str, str]:
    op = with_database(op)
    primary_key = op.get("primary_key", op.get("hash_attribute"))
    errors = _joi_name("database", op["database"]) + _joi_name("table", op.get("table"))
    if primary_key is None:
        errors.append("'primary_key' is required")
    elif not isinstance(primary_key, str):
        errors.append("'primary_key' must be a string")
    elif not primary_key or not _NAME.fullmatch(primary_key):
        errors.append("'primary_key' names cannot include backticks or forward slashes")
    if errors:
        raise HarperError(". ".join(errors))
    if catalog.table(op["database"], op["table"]) is not None:
        raise HarperError(f"Table '{op['table']}' already exists in '{op['database']}'")
    return op["database"], op["table"], primary_key


def validate_drop_table(op: dict, catalog: Catalog) -> tuple[str, str]:
    op = with_database(op)
    if op.get("table") is None:
        raise HarperError("'table' is required")
    table = _check_table_exists(catalog, op["database"], op["table"], status=404)
    return table.database, table.name


def validate_drop_database(op: dict, catalog: Catalog) -> str:
    database = op.get("database") if op.get("database") is not None else op.get("schema")
    if database is None:
        raise HarperError("'database' is required")
    if not catalog.has_database(database):
        raise HarperError(database_missing(database), 404)
    return database


def validate_describe_table(op: dict, catalog: Catalog) -> TableDef:
    op = with_database(op)
    if op.get("table") is None:
        raise HarperError("'table' is required")
    return _check_table_exists(catalog, op["database"], op["table"], status=404)


def validate_describe_database(op: dict, catalog: Catalog) -> str:
    database = with_database(op)["database"]
    if not catalog.has_database(database):
        raise HarperError(database_missing(database), 404)
    return database


def created_database_message(database: str) -> str:
    return f"database '{database}' successfully created"


def created_table_message(database: str, table: str) -> str:
    return f"table '{database}.{table}' successfully created."


def dropped_table_message(database: str, table: str) -> str:
    return f"successfully deleted table '{database}.{table}'"


def dropped_database_message(database: str) -> str:
    return f"successfully deleted '{database}'"


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
            "audit": False, "schema_defined": False, "attributes": attributes, "record_count": record_count,
            "db_size": 0, "table_size": 0, "db_audit_size": 0}


# ---- record writes -------------------------------------------------------------------------
def validate_write(op: dict, catalog: Catalog) -> dict:
    """insert / update / upsert (``records``) and delete (``hash_values`` or ``ids``)."""
    op = with_database(op)
    if op["operation"] == "delete":
        if op.get("hash_values") is None and op.get("ids") is not None:
            op["hash_values"] = op["ids"]
        errors = _joi_name("table", op.get("table"))
        if op.get("hash_values") is None:
            errors.append("'hash_values' is required")
        elif not isinstance(op["hash_values"], list):
            errors.append("'hash_values' must be an array")
        if errors:
            raise HarperError(". ".join(errors))
        _check_table_exists(catalog, op["database"], op["table"], status=404)
        return op
    errors = _joi_name("table", op.get("table"))
    records = op.get("records")
    if records is None:
        errors.append("'records' is required")
    elif not isinstance(records, list):
        errors.append("'records' must be an array")
    else:
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                errors.append(f"'records[{i}]' must be of type object")
                break
            for name in record:
                if name in ("", "undefined", "null"):
                    errors.append(f"Invalid attribute name: '{name}'")
                    break
    if errors:
        raise HarperError(". ".join(errors))
    table = _check_table_exists(catalog, op["database"], op["table"])
    for record in records:
        for name in record:
            if not _NAME.fullmatch(name):
                raise HarperError("Attribute names cannot include backticks or forward slashes")
            if len(name.encode()) > 250:
                raise HarperError(f"transaction aborted due to attribute name {name} being too long. "
                                  "Attribute names cannot be longer than 250 bytes.")
            if not name.strip():
                raise HarperError("transaction aborted due to record(s) with an attribute name that is null, "
                                  "undefined or empty string")
        if op["operation"] == "update" and record.get(table.primary_key) in (None, ""):
            raise HarperError(UPDATE_NEEDS_KEY + ", check log for more info")
    return op


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


# ---- searches ------------------------------------------------------------------------------
def _search_table(op: dict, catalog: Catalog, status: int) -> tuple[dict, TableDef]:
    op = with_database(op)
    if not isinstance(op.get("table"), str):
        raise HarperError("'table' is required")
    return op, _check_table_exists(catalog, op["database"], op["table"], status)


def _check_attributes(table: TableDef, names: Iterable[Any]) -> None:
    unknown = [str(n) for n in names if n != "*" and n not in table.attributes]
    if unknown:
        listed = unknown[0] if len(unknown) == 1 else ", ".join(unknown[:-1]) + " and " + unknown[-1]
        raise HarperError(f"unknown attribute '{listed}'")


def _get_attributes(op: dict, errors: list[str]) -> list:
    attributes = op.get("get_attributes", op.get("select", ["*"]))
    if not isinstance(attributes, list):
        errors.append("'get_attributes' must be an array")
    elif not attributes:
        errors.append("'get_attributes' must contain at least 1 item")
    elif not all(isinstance(a, (str, int, float)) for a in attributes):
        errors.append("'get_attributes' must be strings or numbers")
    return attributes


def validate_search_by_hash(op: dict, catalog: Catalog) -> dict:
    """DECISIONS #9: validation errors are 400 (Harper: 500); a missing table stays a 404."""
    op, table = _search_table(op, catalog, 404)
    values = op.get("hash_values", op.get("ids"))
    errors: list[str] = []
    if values is None:
        errors.append("'hash_values' is required")
    elif not isinstance(values, list):
        errors.append("'hash_values' must be an array")
    elif not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values):
        errors.append("'hash_values' must be strings or numbers")
    attributes = _get_attributes(op, errors)
    if errors:
        raise HarperError(". ".join(errors))
    _check_attributes(table, attributes)
    op["hash_values"], op["get_attributes"] = values, attributes
    return op


def validate_search_by_value(op: dict, catalog: Catalog) -> dict:
    op, table = _search_table(op, catalog, 404)
    errors: list[str] = []
    attribute = op.get("search_attribute", op.get("attribute"))
    value = op.get("search_value", op.get("value"))
    if attribute is None:
        errors.append("'attribute' is required")
    if "search_value" not in op and "value" not in op:
        errors.append("'value' is required")
    attributes = _get_attributes(op, errors)
    _check_limits(op, errors)
    if errors:
        raise HarperError(". ".join(errors))
    _check_attributes(table, [attribute, *attributes])
    op.update(search_attribute=attribute, search_value=value, get_attributes=attributes)
    return op


def _check_limits(op: dict, errors: list[str]) -> None:
    limit, offset = op.get("limit"), op.get("offset")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        errors.append("'limit' must be greater than or equal to 1")
    if offset is not None and (not isinstance(offset, int) or isinstance(offset, bool) or offset < 0):
        errors.append("'offset' must be greater than or equal to 0")


COMPARATORS = {
    "equals": "equals", "eq": "equals", "==": "equals", "=": "equals",
    "contains": "contains", "ct": "contains",
    "starts_with": "starts_with", "sw": "starts_with",
    "ends_with": "ends_with", "ew": "ends_with",
    "greater_than": "greater_than", "gt": "greater_than", ">": "greater_than",
    "greater_than_equal": "greater_than_equal", "ge": "greater_than_equal", "gte": "greater_than_equal",
    ">=": "greater_than_equal",
    "less_than": "less_than", "lt": "less_than", "<": "less_than",
    "less_than_equal": "less_than_equal", "le": "less_than_equal", "lte": "less_than_equal", "<=": "less_than_equal",
    "between": "between", "not_equal": "not_equal", "ne": "not_equal", "!=": "not_equal",
}


def validate_search_by_conditions(op: dict, catalog: Catalog) -> dict:
    """DECISIONS #8: every condition is validated, with the field named."""
    op = with_database(op)
    if not isinstance(op.get("table"), str) or catalog.table(op["database"], op["table"]) is None:
        if not catalog.has_database(op["database"]):
            raise HarperError(database_missing(op["database"]), 404)
        raise HarperError(f"Table {op.get('table')} not found")
    table = catalog.table(op["database"], op["table"])
    errors: list[str] = []
    conditions = op.get("conditions")
    if conditions is None:
        errors.append("'conditions' is required")
    elif not isinstance(conditions, list) or not conditions:
        errors.append("'conditions' must contain at least 1 items")
    operator = str(op.get("operator", "and")).lower()
    if operator not in ("and", "or"):
        errors.append("'operator' must be one of [and, or]")
    _check_limits(op, errors)
    sort = op.get("sort")
    if sort is not None and (not isinstance(sort, dict) or not isinstance(sort.get("descending", False), bool)):
        errors.append("'sort.descending' must be a boolean")
    attributes = _get_attributes(op, errors)
    if errors:
        raise HarperError(". ".join(errors))
    op["operator"], op["get_attributes"] = operator, attributes
    op["conditions"] = [_condition(c, table, f"conditions[{i}]") for i, c in enumerate(conditions)]
    _check_attributes(table, attributes)
    return op


def _condition(condition: Any, table: TableDef, where: str) -> dict:
    if not isinstance(condition, dict):
        raise HarperError(f"'{where}' must be of type object")
    if "conditions" in condition:
        operator = str(condition.get("operator", "and")).lower()
        if operator not in ("and", "or"):
            raise HarperError(f"'{where}.operator' must be one of [and, or]")
        inner = condition["conditions"]
        if not isinstance(inner, list) or not inner:
            raise HarperError(f"'{where}.conditions' must contain at least 1 items")
        return {"operator": operator,
                "conditions": [_condition(c, table, f"{where}.conditions[{i}]") for i, c in enumerate(inner)]}
    attribute = condition.get("search_attribute", condition.get("attribute"))
    comparator = condition.get("search_type", condition.get("comparator"))
    if attribute is None:
        raise HarperError(f"'{where}.search_attribute' is required")
    if comparator is None:
        raise HarperError(f"'{where}.search_type' is required")
    if str(comparator).lower() not in COMPARATORS:
        raise HarperError(f'Unknown query comparator "{comparator}"')
    if "search_value" not in condition and "value" not in condition:
        raise HarperError(f"'{where}.search_value' is required")
    value = condition.get("search_value", condition.get("value"))
    comparator = COMPARATORS[str(comparator).lower()]
    if comparator == "between" and not (isinstance(value, list) and len(value) == 2):
        raise HarperError(f"'{where}.search_value' must be an array of two values for between")
    _check_attributes(table, [attribute])
    return {"search_attribute": attribute, "search_type": comparator, "search_value": value}


def validate_sql(op: dict) -> str:
    sql = op.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise HarperError("The 'sql' parameter is missing from the request body")
    return sql


# ---- jobs ----------------------------------------------------------------------------------
JOB_FIELDS = ("id", "type", "status", "user", "created_datetime", "start_datetime", "end_datetime", "message",
              "result")


def validate_get_job(op: dict) -> str:
    if "id" not in op:
        raise HarperError("'id' is required")
    if op["id"] in ("", None):
        raise HarperError("Invalid job ID specified.", 500)
    return str(op["id"])


def validate_search_jobs(op: dict) -> tuple[float, float]:
    """DECISIONS #15: bounds exclusive, as Harper's; bad dates are a 400 (Harper: 500)."""
    start = parse_iso_date(op.get("from_date"))
    if start is None:
        raise HarperError("Invalid 'from' date, must be in ISO-8601 format (YYYY-MM-DD).")
    end = parse_iso_date(op.get("to_date"))
    if end is None:
        raise HarperError("Invalid 'to' date, must be in ISO-8601 format (YYYY-MM-DD)")
    return start, end


def job_view(record: dict) -> dict:
    """A job as ``get_job`` shows it: Harper's fields only, never bookkeeping or requests."""
    return {k: record[k] for k in JOB_FIELDS if k in record and (k != "result" or record[k] is not None)}


def job_search_view(record: dict) -> dict:
    view = job_view(record)
    for name in ("start_datetime", "end_datetime"):
        if view.get(name) is not None:
            view[f"{name}_converted"] = iso_ms(view[name])
    return view


# ---- exports ------------------------------------------------------------------------------
SEARCH_OPERATIONS = ("search_by_value", "search_by_hash", "sql", "search_by_conditions")


def _export_format_and_search(op: dict, formats: Sequence[str]) -> str:
    fmt = op.get("format")
    if fmt is None:
        raise HarperError("format missing")
    if fmt not in formats:
        raise HarperError("format invalid. must be one of the following values: json, csv")
    search = op.get("search_operation")
    if not isinstance(search, dict) or search.get("operation") is None:
        raise HarperError("search_operation.operation missing")
    if search["operation"] not in SEARCH_OPERATIONS and search["operation"] != "search_by_id":
        raise HarperError("search_operation.operation must be one of the following values: "
                          + ", ".join(SEARCH_OPERATIONS))
    return fmt


def writable_directory(path: Any, allowed_dirs: Sequence[Path]) -> str:
    """A ``path`` to write into (export_local's checks and texts); returned without a trailing separator."""
    if path is None:
        raise HarperError("path is missing.")
    if not isinstance(path, str) or path == "":
        raise HarperError(f"Invalid path: {path if isinstance(path, str) else ''}")
    directory = path[:-1] if len(path) > 1 and path.endswith(os.sep) else path
    target = Path(directory)
    if not target.exists():
        raise HarperError(f"path '{directory}' does not exist")
    if not target.is_dir():
        raise HarperError(f"path '{directory}' is not a directory, please supply a valid folder path")
    if not os.access(target, os.W_OK):
        raise HarperError(f"access to path '{directory}' is denied")
    if not _inside(target, allowed_dirs):
        raise HarperError(f"access to path '{directory}' is denied: files are written only under the "
                          "directories this pipeline is configured for (PIPELINE_ALLOWED_DIRS)")
    return directory


def validate_export(op: dict, allowed_dirs: Sequence[Path], formats: Sequence[str], now_ms: int) -> dict:
    """export_local's checks, in Harper's order (they run inside the job: failures end it in ERROR).

    ``formats`` may hold more than Harper's json and csv; the error text stays
    Harper's, which clients match on. Returns the op with ``file`` set: the
    path Harper writes, ``<path>/<filename or epoch ms>.<format>`` (the
    extension is always appended, as Harper does).
    """
    fmt = _export_format_and_search(op, formats)
    directory = writable_directory(op.get("path"), allowed_dirs)
    filename = op.get("filename")
    name = f"{filename if filename is not None else now_ms}.{fmt}"
    if "/" in name or name.startswith("."):
        raise HarperError(f"filename '{filename}' is invalid: it must name a file inside path")
    return {**op, "file": os.path.join(directory, name)}


def validate_export_s3(op: dict, formats: Sequence[str]) -> dict:
    """export_to_s3's checks in Harper's order; ``s3.key`` gets ``.<format>`` appended, as Harper does.

    Beyond Harper: both keys may be left out, to use the worker's own AWS credentials.
    """
    s3 = op.get("s3")
    if not isinstance(s3, dict) or not s3:
        raise HarperError("S3 object is missing.")
    own_credentials = s3.get("aws_access_key_id") is None and s3.get("aws_secret_access_key") is None
    for field in ("aws_access_key_id", "aws_secret_access_key", "bucket", "key", "region"):
        if field.startswith("aws_") and own_credentials:
            continue
        if not s3.get(field):
            raise HarperError(f"{field} is missing.")
    fmt = _export_format_and_search(op, formats)
    return {**op, "object_key": f"{s3['key']}.{fmt}"}


def export_result(fmt: str, path: str) -> dict:
    return {"message": f"Successfully exported {fmt.upper()} locally.", "path": path}


# ---- users, roles and permissions ------------------------------------------------------------
LOGIN_FAILED = "Login failed"
NOT_AUTHORIZED = "This operation is not authorized due to role restrictions and/or invalid database items"
TABLE_PERMISSIONS = ("read", "insert", "update", "delete")
ATTRIBUTE_PERMISSIONS = ("read", "insert", "update")

#: operations only a super user may run, with the function name Harper's 403 names
SUPER_USER_ONLY = {
    "create_database": "createSchema", "create_schema": "createSchema", "create_table": "createTable",
    "drop_database": "dropSchema", "drop_schema": "dropSchema", "drop_table": "dropTable",
    "drop_attribute": "dropAttribute",
    "add_user": "addUser", "alter_user": "alterUser", "drop_user": "dropUser", "list_users": "listUsersExternal",
    "add_role": "addRole", "alter_role": "alterRole", "drop_role": "dropRole", "list_roles": "listRoles",
    "delete_records_before": "deleteFilesBefore", "delete_files_before": "deleteFilesBefore",
    "search_jobs_by_start_date": "handleGetJobsByStartDate", "system_information": "systemInformation",
    "snapshot": "snapshot",
}


def not_authorized(unauthorized: list, invalid: list) -> HarperError:
    """Harper's 403: the body is the permissions result itself."""
    return HarperError({"error": NOT_AUTHORIZED, "unauthorized_access": unauthorized,
                        "invalid_schema_items": invalid}, 403)


def restricted(function_name: str) -> HarperError:
    return not_authorized([f"Operation '{function_name}' is restricted to 'super_user' roles"], [])


def attribute_missing(database: str, table: str, attribute: str) -> str:
    return f"Attribute '{attribute}' does not exist on '{database}.{table}'"


def required_permissions(database: str, table: str, table_perms: list[str], attribute_perms: list[dict]) -> dict:
    return {"schema": database, "table": table, "required_table_permissions": table_perms,
            "required_attribute_permissions": attribute_perms}


def load_permissions(action: str) -> tuple[str, ...]:
    """A bulk load needs insert and update, or only what its ``action`` names (upsert: both)."""
    return {"insert": ("insert",), "update": ("update",)}.get(action, ("insert", "update"))


def validate_add_user(op: dict, role_exists: bool, user_exists: bool) -> dict:
    errors = []
    for field in ("username", "password", "role"):
        if op.get(field) in (None, ""):
            errors.append(f"{field.capitalize()} can't be blank")
    if op.get("active") is None:
        errors.append("Active can't be blank")
    elif not isinstance(op.get("active"), bool):
        errors.append("Active must be a boolean")
    if errors:
        raise HarperError(". ".join(errors))
    if not role_exists:
        raise HarperError("Role is invalid")
    if user_exists:
        raise HarperError(f"User {op['username']} already exists", 409)
    return op


def validate_alter_user(op: dict, role_exists: bool, user_exists: bool) -> dict:
    if op.get("username") in (None, ""):
        raise HarperError("Username can't be blank")
    if op.get("active") is not None and not isinstance(op["active"], bool):
        raise HarperError("Active must be a boolean")
    if op.get("password") == "":
        raise HarperError("Password can't be blank")
    if op.get("role") is not None and not role_exists:
        raise HarperError(f"Update failed.  Requested '{op['role']}' role not found.", 404)
    if not user_exists:
        raise HarperError(user_missing(op["username"]), 404)
    return op


def validate_drop_user(op: dict, user_exists: bool) -> str:
    if op.get("username") in (None, ""):
        raise HarperError("Username can't be blank")
    if not user_exists:
        raise HarperError(user_missing(op["username"]), 404)
    return op["username"]


def user_missing(username: str) -> str:
    return f"User {username} does not exist"


def user_added_message(username: str) -> str:
    return f"{username} successfully added"


def deleted_message(name: str) -> str:
    return f"{name} successfully deleted"


def altered_user_answer(username: str) -> dict:
    return {"message": "updated 1 of 1 records", "update_hashes": [username], "skipped_hashes": []}


def validate_role(op: dict, catalog: Catalog, existing_names: Iterable[str], altering: bool) -> dict:
    """add_role / alter_role: the request's fields, then every permission in it (Harper's 400 with the lists)."""
    errors = []
    if altering and op.get("id") in (None, ""):
        errors.append("Id can't be blank")
    if not altering and op.get("role") in (None, ""):
        errors.append("Role can't be blank")
    permission = op.get("permission")
    if not isinstance(permission, dict):
        errors.append("Permission can't be blank" if permission is None else "Permission must be an object")
    if errors:
        raise HarperError(". ".join(errors))
    if not altering and op["role"] in existing_names:
        raise HarperError(f"A role with name '{op['role']}' already exists", 409)
    main, per_table = _permission_errors(permission, catalog)
    if main or per_table:
        raise HarperError({"error": "Errors in the role permissions JSON provided", "main_permissions": main,
                           "schema_permissions": per_table})
    return op


def _permission_errors(permission: dict, catalog: Catalog) -> tuple[list[str], dict[str, list[str]]]:
    main: list[str] = []
    per_table: dict[str, list[str]] = {}
    super_user = permission.get("super_user")
    if super_user is not None and not isinstance(super_user, bool):
        main.append("'super_user' must be a boolean")
    databases = {k: v for k, v in permission.items() if k not in ("super_user", "structure_user")}
    if super_user is True and databases:
        return ["Roles with 'super_user' set to true cannot have other permissions set."], {}
    for database, entry in databases.items():
        if not catalog.has_database(database):
            main.append(database_missing(database))
            continue
        tables = entry.get("tables") if isinstance(entry, dict) else None
        if not isinstance(tables, dict):
            main.append(f"Missing 'tables' for database '{database}'")
            continue
        for name, perms in tables.items():
            table = catalog.table(database, name)
            if table is None:
                main.append(table_missing(database, name))
                continue
            errors = _table_permission_errors(table, perms)
            if errors:
                per_table[f"{database}_{name}"] = errors
    return main, per_table


def _table_permission_errors(table: TableDef, perms: Any) -> list[str]:
    if not isinstance(perms, dict):
        return ["Table permissions must be an object"]
    errors = [f"Invalid table permission key value '{k}'" for k in perms
              if k not in TABLE_PERMISSIONS and k != "attribute_permissions"]
    errors += [f"Table {p.upper()} permission must be a boolean" for p in TABLE_PERMISSIONS
               if p in perms and not isinstance(perms[p], bool)]
    attributes = perms.get("attribute_permissions")
    if not isinstance(attributes, list):
        return errors + ["Missing 'attribute_permissions' array"]
    conflict = False
    for entry in attributes:
        name = entry.get("attribute_name") if isinstance(entry, dict) else None
        if name not in table.attributes and name != table.primary_key:
            errors.append(f"Invalid attribute '{name}' in 'attribute_permissions'")
            continue
        for p in ATTRIBUTE_PERMISSIONS + ("delete",):
            if p in entry and not isinstance(entry[p], bool):
                errors.append(f"{p.upper()} attribute permission for '{name}' must be a boolean")
            elif entry.get(p) is True and perms.get(p) is False:
                conflict = True
    if conflict:
        errors.insert(0, f"You have a conflict with TABLE permissions for '{table.qualified}' being false and "
                         "ATTRIBUTE permissions being true")
    return errors


def validate_drop_role(op: dict, role_exists: bool, users_of_role: list[str]) -> str:
    if op.get("id") in (None, ""):
        raise HarperError("Id can't be blank")
    if not role_exists:
        raise HarperError("Role not found", 404)
    if users_of_role:
        raise HarperError(f"Cannot drop role {op['id']} as it has active user(s) tied to this role", 409)
    return op["id"]
