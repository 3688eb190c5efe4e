"""Harper's checks of the catalog operations: create, drop and describe databases and tables."""
from __future__ import annotations

from ..catalog import Catalog, TableDef
from .answers import database_missing
from .errors import HarperError
from .names import NAME, check_table_exists, joi_name, with_database


def validate_create_database(op: dict, catalog: Catalog) -> str:
    database = op.get("database") if op.get("database") is not None else op.get("schema", "data")
    errors = joi_name("database", database)
    if errors:
        raise HarperError(". ".join(errors))
    if catalog.has_database(database):
        raise HarperError(f"database '{database}' already exists")
    return database


def validate_create_table(op: dict, catalog: Catalog) -> tuple[str, str, str]:
    op = with_database(op)
    primary_key = op.get("primary_key", op.get("hash_attribute"))
    errors = joi_name("database", op["database"]) + joi_name("table", op.get("table"))
    if primary_key is None:
        errors.append("'primary_key' is required")
    elif not isinstance(primary_key, str):
        errors.append("'primary_key' must be a string")
    elif not primary_key or not NAME.fullmatch(primary_key):
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
    table = check_table_exists(catalog, op["database"], op["table"], status=404)
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
    return check_table_exists(catalog, op["database"], op["table"], status=404)


def validate_describe_database(op: dict, catalog: Catalog) -> str:
    database = with_database(op)["database"]
    if not catalog.has_database(database):
        raise HarperError(database_missing(database), 404)
    return database
