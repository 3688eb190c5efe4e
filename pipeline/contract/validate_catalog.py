"""Harper's checks of the catalog operations: create, drop and describe databases and tables."""
from __future__ import annotations

from ..catalog import TIMESTAMPS, Catalog, TableDef
from .answers import database_missing
from .errors import HarperError
from .names import NAME, check_table_exists, database_label, joi_name, with_database


def validate_create_database(op: dict, catalog: Catalog) -> str:
    database = op.get("database") if op.get("database") is not None else op.get("schema", "data")
    errors = joi_name(database_label(op), database)
    if errors:
        raise HarperError(". ".join(errors))
    if catalog.has_database(database):
        raise HarperError(f"database '{database}' already exists")
    return database


def validate_create_table(op: dict, catalog: Catalog) -> tuple[str, str, str]:
    label, op = database_label(op), with_database(op)
    primary_key = op.get("primary_key", op.get("hash_attribute"))
    errors = joi_name(label, op["database"])
    if errors and label == "database":  # Harper copies database into schema before it checks both
        errors += joi_name("schema", op["database"])
    errors += joi_name("table", op.get("table"))
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
    label, op = database_label(op), with_database(op)
    errors = joi_name(label, op["database"]) + joi_name("table", op.get("table"))
    if errors:
        raise HarperError(". ".join(errors))
    table = check_table_exists(catalog, op["database"], op["table"], status=404)
    return table.database, table.name


def validate_create_attribute(op: dict, catalog: Catalog) -> tuple[TableDef, str]:
    """Harper answers 500 for a missing table or a non-string attribute (a crash); those are 400/404 here."""
    label, op = database_label(op), with_database(op)
    attribute = op.get("attribute")
    errors = joi_name(label, op["database"]) + joi_name("table", op.get("table"))
    if attribute in (None, ""):
        errors.append("Attribute name is required")
    elif not isinstance(attribute, str):
        errors.append("'attribute' must be a string")
    elif not NAME.fullmatch(attribute):
        errors.append("Attribute names cannot include backticks or forward slashes")
    if errors:
        raise HarperError(". ".join(errors))
    table = check_table_exists(catalog, op["database"], op["table"], status=404)
    if attribute in table.attributes:
        raise HarperError(f"attribute '{attribute}' already exists in {table.qualified}")
    return table, attribute


def validate_drop_attribute(op: dict, catalog: Catalog) -> tuple[TableDef, str]:
    """Beyond Harper: the primary key cannot be dropped (Harper drops it, and every record's key with it)."""
    label, op = database_label(op), with_database(op)
    errors = joi_name(label, op["database"]) + joi_name("table", op.get("table"))
    errors += joi_name("attribute", op.get("attribute"))
    if errors:
        raise HarperError(". ".join(errors))
    table = check_table_exists(catalog, op["database"], op["table"], status=404)
    attribute = op["attribute"]
    if attribute in TIMESTAMPS:
        raise HarperError(f"cannot drop internal timestamp attribute: {attribute}")
    if attribute == table.primary_key:
        raise HarperError(f"cannot drop attribute '{attribute}': it is the primary key of {table.qualified}; "
                          "drop the table instead")
    return table, attribute


def validate_drop_database(op: dict, catalog: Catalog) -> str:
    database = op.get("database") if op.get("database") is not None else op.get("schema")
    if database is None:
        raise HarperError("'database' is required")
    errors = joi_name(database_label(op), database)
    if errors:
        raise HarperError(". ".join(errors))
    if not catalog.has_database(database):
        raise HarperError(database_missing(database), 404)
    return database


def validate_describe_table(op: dict, catalog: Catalog) -> TableDef:
    op = with_database(op)
    errors = joi_name("table", op.get("table"))
    if errors:
        raise HarperError(". ".join(errors))
    return check_table_exists(catalog, op["database"], op["table"], status=404)


def validate_describe_database(op: dict, catalog: Catalog) -> str:
    database = with_database(op)["database"]
    if not catalog.has_database(database):
        raise HarperError(database_missing(database), 404)
    return database
