"""What Harper checks before a bulk job is created (loads, deletes by date) or as it starts (exports),
and the job operations' own requests (get_job, search_jobs_by_start_date).

File and directory checks are Harper's, then ours: a path must lie under a
directory the pipeline is configured for (``PIPELINE_ALLOWED_DIRS``).
"""
from __future__ import annotations

import codecs
import os
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlparse

from ..catalog import Catalog
from ..records import DataStream
from .answers import not_a_regular_file, outside_allowed_dirs
from .dates import parse_iso_date
from .errors import HarperError, operation_not_found
from .names import check_table_exists, joi_name, validatejs_name, with_database
from .operations import ACTIONS, AUDIT, DELETE_BEFORE, EXPORTS, LOADS, SEARCH_OPERATIONS
from .system import CHANGES as SYSTEM_CHANGES
from .system import SYSTEM, refuse_change


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
    if op["database"] == SYSTEM and name in SYSTEM_CHANGES:  # produced to the topic: no permission check ran
        raise refuse_change(name, op.get("table"), op.get("action"))
    if name in DELETE_BEFORE:
        return validate_delete_before(op)
    if name in AUDIT:
        return validate_delete_audit_before(op)
    if name in EXPORTS:
        return op
    if name not in LOADS:
        raise operation_not_found(name)
    action = op.get("action")
    if action is None:
        action = op["action"] = "insert"
    if name == "csv_url_load":
        errors = joi_name("schema", op.get("database")) + joi_name("table", op.get("table"))
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
        errors = validatejs_name("Schema", op.get("schema")) + validatejs_name("Table", op.get("table"))
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
        if name == "csv_data_load" and not isinstance(op["data"], (str, DataStream)):
            raise HarperError("Data must be a string")
    if op.get("encoding") is not None:  # ours: the text encoding of a file, URL or S3 source
        op["encoding"] = text_encoding(op["encoding"])
        if op["encoding"] is None:
            raise HarperError("'encoding' must name a text encoding that reads ASCII as ASCII, such as 'utf-8', "
                              "'cp1252' or 'iso-8859-1' (a UTF-16 or UTF-32 file must be converted to UTF-8 first)")
    check_table_exists(catalog, op["database"], op["table"])
    if name == "csv_file_load":
        check_readable(op["file_path"], allowed_dirs)
    return op


_ASCII = bytes(range(128))


def text_encoding(name: Any) -> str | None:
    """Python's name for the encoding ``name`` if it is a text encoding that reads ASCII as ASCII (a CSV's
    lines are split as bytes before they are decoded); None otherwise (UTF-16, hex, unknown...)."""
    if not isinstance(name, str):
        return None
    try:
        info = codecs.lookup(name)
        same = getattr(info, "_is_text_encoding", True) and _ASCII.decode(info.name) == _ASCII.decode("ascii")
    except (LookupError, UnicodeError, TypeError):
        return None
    return info.name if same else None


def _is_url(text: str) -> bool:
    """Harper's Joi ``uri()``, and ours: a host and a port that parse (Harper starts a job for port 99999 that
    then fails; a redirect's target is checked again when it is fetched)."""
    try:
        parsed = urlparse(text)
        parsed.port  # noqa: B018 - raises for a port that is not a number from 0 to 65535
    except ValueError:
        return False
    return bool(parsed.scheme and parsed.hostname) and " " not in text


def check_readable(file_path: Any, allowed_dirs: Sequence[Path]) -> Path:
    """Harper's file checks, then ours: the file must lie under an allowed directory."""
    if not isinstance(file_path, str):
        raise HarperError("File path must be a string")
    path = Path(file_path)
    if not path.exists():
        raise HarperError(f"No such file or directory {file_path}")
    if not os.access(path, os.R_OK):
        raise HarperError(f"Permission denied {file_path}")
    if not inside(path, allowed_dirs):
        raise HarperError(outside_allowed_dirs(file_path))
    if path.is_dir():
        raise HarperError(f"{file_path} is a directory, not a file")
    if not path.is_file():
        raise HarperError(not_a_regular_file(file_path))
    return path


def inside(path: Path, allowed_dirs: Sequence[Path]) -> bool:
    real = path.resolve()
    return any(real == d or d in real.parents for d in (Path(a).resolve() for a in allowed_dirs))


def validate_delete_before(op: dict) -> dict:
    op = with_database(op)
    errors = joi_name("table", op.get("table"))
    if op.get("date") is None:
        errors.append("'date' is required")
    elif parse_iso_date(op["date"]) is None:
        errors.append("'date' must be in ISO 8601 date format")
    if errors:
        raise HarperError(". ".join(errors))
    return op


def validate_delete_audit_before(op: dict) -> dict:
    """``timestamp``: epoch ms, a number or a numeric string (Joi's ``date().timestamp()``)."""
    op = with_database(op)
    errors = joi_name("table", op.get("table"))
    timestamp = op.get("timestamp")
    if timestamp is None:
        errors.append("'timestamp' is required")
    elif not _is_number(timestamp):
        errors.append("'timestamp' is invalid")
    if errors:
        raise HarperError(". ".join(errors))
    return op


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True


#: DECISIONS #4: Harper compares the content type exactly; parameters (charset) are accepted here
CSV_CONTENT_TYPES = ("text/csv", "application/octet-stream", "text/plain", "application/vnd.ms-excel")


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
    if not inside(target, allowed_dirs):
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
