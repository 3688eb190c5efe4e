"""Harper's rules for names (databases, tables, attributes) and for the table an operation names.

Harper checks names with two validators whose texts differ (validate.js for
the older operations, Joi for the newer); both are copied, since clients
match on the texts.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from ..catalog import Catalog, TableDef
from .answers import database_missing, table_missing
from .errors import HarperError

# Harper's name rule: printable ASCII except "/" and "`" (validate.js and Joi alike)
NAME = re.compile(r"[\x20-\x2E\x30-\x5F\x61-\x7E]*")


def with_database(op: dict) -> dict:
    """Harper's ``transformReq`` on a copy: ``database`` wins over ``schema``; neither means ``data``."""
    op = dict(op)
    database = op.get("database") if op.get("database") is not None else op.get("schema")
    if database is None:
        database = "data"
    op["database"] = op["schema"] = database
    return op


#: the operations whose database and table Harper also accepts as numbers (``"schema": 123, "table": 4``)
NUMERIC_NAMES = frozenset({"insert", "update", "upsert", "delete"})


def with_numeric_names(op: dict) -> dict:
    """``op`` with the numbers Harper accepts as database and table names turned into the names they spell.

    Done before the permission check, so that the check sees the table the operation will write.
    """
    if op.get("operation") not in NUMERIC_NAMES:
        return op
    spelled = {k: str(v) for k in ("database", "schema", "table")
               if isinstance(v := op.get(k), (int, float)) and not isinstance(v, bool)}
    return {**op, **spelled} if spelled else op


def database_label(op: dict) -> str:
    """How the request named its database, for Harper's messages: ``database`` if it said so, else ``schema``."""
    return "database" if op.get("database") is not None else "schema"


def check_table_exists(catalog: Catalog, database: Any, table: Any, status: int = 400) -> TableDef:
    if not catalog.has_database(str(database)):
        raise HarperError(database_missing(database), status)
    found = catalog.table(str(database), str(table))
    if found is None:
        raise HarperError(table_missing(database, table), status)
    return found


def validatejs_name(label: str, value: Any) -> list[str]:
    """validate.js constraints on table / schema / database names (csv_data_load, csv_file_load, import_from_s3)."""
    if value is None:
        return [f"{label} can't be blank"] if label == "Table" else []
    errors = []
    if not isinstance(value, str) or not NAME.fullmatch(value):
        errors.append(f"{label} names cannot include backticks or forward slashes")
    if not isinstance(value, str):
        errors.append(f"{label} has an incorrect length")
    elif len(value) < 1:
        errors.append(f"{label} is too short (minimum is 1 characters)")
    elif len(value) > 250:
        errors.append(f"{label} cannot exceed 250 characters")
    return errors


def joi_name(label: str, value: Any, required: bool = True) -> list[str]:
    if value is None:
        return [f"'{label}' is required"] if required else []
    if not isinstance(value, str):
        return [f"'{label}' must be a string"]
    if not NAME.fullmatch(value):
        return [f"'{label}' names cannot include backticks or forward slashes"]
    return []


def check_column_names(names: Iterable[str]) -> None:
    for name in names:
        if not NAME.fullmatch(name):
            raise HarperError(f"Invalid column name '{name}', cancelling load operation")
