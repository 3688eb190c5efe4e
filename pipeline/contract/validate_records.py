"""Harper's checks of the record writes: insert, update, upsert (``records``) and delete (``hash_values``)."""
from __future__ import annotations

from .. import codec
from ..catalog import Catalog
from .answers import UPDATE_NEEDS_KEY
from .errors import HarperError
from .names import NAME, check_table_exists, joi_name, with_database


def validate_write(op: dict, catalog: Catalog) -> dict:
    """insert / update / upsert (``records``) and delete (``hash_values`` or ``ids``)."""
    op = with_database(op)
    if op["operation"] == "delete":
        if op.get("hash_values") is None and op.get("ids") is not None:
            op["hash_values"] = op["ids"]
        errors = joi_name("table", op.get("table"))
        if op.get("hash_values") is None:
            errors.append("'hash_values' is required")
        elif not isinstance(op["hash_values"], list):
            errors.append("'hash_values' must be an array")
        if errors:
            raise HarperError(". ".join(errors))
        check_table_exists(catalog, op["database"], op["table"], status=404)
        return op
    errors = joi_name("table", op.get("table"))
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
    table = check_table_exists(catalog, op["database"], op["table"])
    for record in records:
        for name in record:
            if not NAME.fullmatch(name):
                raise HarperError("Attribute names cannot include backticks or forward slashes")
            if len(name.encode()) > 250:
                raise HarperError(f"transaction aborted due to attribute name {name} being too long. "
                                  "Attribute names cannot be longer than 250 bytes.")
            if not name.strip():
                raise HarperError("transaction aborted due to record(s) with an attribute name that is null, "
                                  "undefined or empty string")
        key = record.get(table.primary_key)
        if op["operation"] == "update" and key in (None, ""):
            raise HarperError(UPDATE_NEEDS_KEY + ", check log for more info")
        if key in ("null", "undefined"):
            raise HarperError(f"Invalid hash value: '{key}' is not a valid hash attribute value, check log for more info")
    for i, record in enumerate(records):
        for name, value in record.items():
            if isinstance(value, (dict, list)) and codec.nesting_exceeds(value):
                raise HarperError(f"'records[{i}].{name}': {codec.NESTED_TOO_DEEP}")
    return op
