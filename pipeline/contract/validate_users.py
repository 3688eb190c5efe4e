"""Harper's checks of the user and role operations, and of a role's permission JSON."""
from __future__ import annotations

from typing import Any, Iterable

from ..catalog import Catalog, TableDef
from .answers import database_missing, table_missing, user_missing
from .errors import HarperError
from .permissions import ATTRIBUTE_PERMISSIONS, TABLE_PERMISSIONS


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
    _check_password(op["password"])
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
    if op.get("password") is not None:
        _check_password(op["password"])
    if op.get("role") is not None and not role_exists:
        raise HarperError(f"Update failed.  Requested '{op['role']}' role not found.", 404)
    if not user_exists:
        raise HarperError(user_missing(op["username"]), 404)
    return op


def _check_password(password: Any) -> None:
    """Ours: a NUL character cannot be part of a password (Harper accepts one, and "pw" then also logs in as
    "pw\\0")."""
    if "\0" in str(password):
        raise HarperError("Password cannot contain the NUL character (\\u0000)")


def validate_drop_user(op: dict, user_exists: bool) -> str:
    if op.get("username") in (None, ""):
        raise HarperError("Username can't be blank")
    if not user_exists:
        raise HarperError(user_missing(op["username"]), 404)
    return op["username"]


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
