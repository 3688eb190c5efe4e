"""Harper's checks of the NoSQL searches: search_by_hash (by_id), search_by_value, search_by_conditions.

Each validator resolves Harper's aliases (``ids``, ``select``, ``attribute``,
``value``, ``comparator`` and the comparators' short names) so the planner
sees one spelling.
"""
from __future__ import annotations

from typing import Any, Iterable

from ..catalog import Catalog, TableDef
from .answers import database_missing
from .errors import HarperError
from .names import check_table_exists, with_database


def _search_table(op: dict, catalog: Catalog, status: int) -> tuple[dict, TableDef]:
    op = with_database(op)
    if not isinstance(op.get("table"), str):
        raise HarperError("'table' is required")
    return op, check_table_exists(catalog, op["database"], op["table"], status)


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
