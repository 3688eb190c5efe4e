"""What each role may touch: Harper's permission check, made before anything else about an operation.

A role's permission JSON grants per table (read, insert, update, delete) and,
when it lists attributes, per attribute; :class:`TableAccess` reads one
table's grant, :class:`Authorizer` checks an operation against them and
raises Harper's 403 (its texts are :mod:`pipeline.contract.permissions`).
"""
from __future__ import annotations

from typing import Iterable

from ..catalog import TIMESTAMPS, Catalog, TableDef
from ..contract.answers import database_missing, table_missing
from ..contract.names import with_database
from ..contract.operations import EXPORTS, LOADS
from ..contract import system
from ..contract.permissions import (ATTRIBUTE_PERMISSIONS, SUPER_USER_ONLY, TABLE_PERMISSIONS, TIMESTAMPS_READ_ONLY,
                                    attribute_missing, load_permissions, not_authorized, required_permissions,
                                    restricted)
from .directory import Principal

# ---- what an operation needs ------------------------------------------------------------------
_TABLE_NEEDS = {
    "insert": ("insert",), "update": ("update",), "upsert": ("insert", "update"), "delete": ("delete",),
    "search_by_hash": ("read",), "search_by_id": ("read",), "search_by_value": ("read",),
    "search_by_conditions": ("read",), "describe_table": (), "create_attribute": ("insert",),
}
_ATTRIBUTE_NEEDS = {"insert": ("insert",), "update": ("update",), "upsert": ("insert", "update"),
                    "search_by_hash": ("read",), "search_by_id": ("read",), "search_by_value": ("read",),
                    "search_by_conditions": ("read",)}


class TableAccess:
    """What one role may do with one table: its table permissions and, if listed, per-attribute ones.

    When a role lists attribute permissions for a table, an attribute it does
    not list may do nothing, the timestamps included (they may be listed for
    ``read`` only), and the primary key may do what any listed attribute may
    do unless it is listed itself (Harper's permission translation).
    """

    def __init__(self, table: TableDef, perms: dict | None) -> None:
        self.table = table
        self.perms = perms or {}
        listed = self.perms.get("attribute_permissions") or []
        self.attributes: dict[str, dict] | None = None
        if listed:
            self.attributes = {e["attribute_name"]: e for e in listed if isinstance(e, dict)}
            for name in TIMESTAMPS:
                if name in self.attributes:
                    self.attributes[name] = {"read": self.attributes[name].get("read") is True}
            if table.primary_key not in self.attributes:
                self.attributes[table.primary_key] = {p: any(e.get(p) is True for e in self.attributes.values())
                                                      for p in ATTRIBUTE_PERMISSIONS}

    @property
    def visible(self) -> bool:
        return any(self.perms.get(p) is True for p in TABLE_PERMISSIONS)

    def attribute_visible(self, name: str) -> bool:
        if self.attributes is None:
            return True
        entry = self.attributes.get(name)
        return entry is not None and any(entry.get(p) is True for p in ATTRIBUTE_PERMISSIONS)

    def may(self, name: str, needs: Iterable[str]) -> bool:
        if self.attributes is None:
            return True
        entry = self.attributes.get(name) or {}
        return all(entry.get(p) is True for p in needs)

    def readable(self) -> list[str]:
        return [a for a in self.table.attributes if self.may(a, ("read",))]

    def check(self, needs: Iterable[str], attributes: Iterable[str], attribute_needs: Iterable[str],
              unauthorized: list, invalid: list) -> None:
        """Add what the role lacks to ``unauthorized`` and what it cannot see to ``invalid``.

        As in Harper, a missing table permission is the whole answer for that table.
        """
        database, name = self.table.database, self.table.name
        attribute_needs = tuple(attribute_needs)
        missing_table = [p for p in needs if self.perms.get(p) is not True]
        if missing_table:
            unauthorized.append(required_permissions(database, name, missing_table, []))
            return
        missing_attributes = []
        named: list[str] = []
        for attribute in attributes:
            # ``alias.*`` of SQL stands for each attribute; a bare ``*`` is narrowed to the readable ones before
            named += [a for a in self.table.attributes if a not in TIMESTAMPS] if attribute == ".*" else [attribute]
        for attribute in dict.fromkeys(named):
            if attribute == "*":
                continue
            if not self.attribute_visible(attribute):
                invalid.append(attribute_missing(database, name, attribute))
            elif self.attributes is not None:
                if attribute in TIMESTAMPS and any(p != "read" for p in attribute_needs):
                    raise TIMESTAMPS_READ_ONLY()
                lacking = [p for p in attribute_needs if self.attributes[attribute].get(p) is not True]
                if lacking:
                    missing_attributes.append({"attribute_name": attribute, "required_permissions": lacking})
        if missing_table or missing_attributes:
            unauthorized.append(required_permissions(database, name, missing_table, missing_attributes))


class Authorizer:
    """Harper's permission check, made before anything else about an operation."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def access(self, principal: Principal, database: str, table: str,
               invalid: list) -> TableAccess | None:
        """The role's access to a table, or None (and the invalid item said) when the role cannot see it."""
        entry = principal.permission.get(database)
        tdef = self.catalog.table(database, table)
        if not isinstance(entry, dict) or not self.catalog.has_database(database):
            invalid.append(database_missing(database))
            return None
        perms = (entry.get("tables") or {}).get(table)
        access = TableAccess(tdef, perms) if tdef is not None else None
        if access is None or not access.visible:
            invalid.append(table_missing(database, table))
            return None
        return access

    def check(self, op: dict, principal: Principal | None, sql_tables=None) -> None:
        """Raise Harper's 403 when ``principal`` may not run ``op``; None (no credentials) is trusted, except
        that nobody changes the system database."""
        name = op.get("operation")
        read = sql_tables(op.get("sql")) if name == "sql" and sql_tables else []  # parsed once for both checks
        self._check_system(op, principal, read)
        if principal is None or principal.super_user:
            return
        if name in EXPORTS:
            search = op.get("search_operation") if isinstance(op.get("search_operation"), dict) else {}
            if search.get("operation") != "sql":
                raise restricted(name)
            # Harper only checks the SQL of an SQL export; so do we, but the check does run (DECISIONS 11)
            return self.check(search, principal, sql_tables)
        if name in SUPER_USER_ONLY:
            raise restricted(SUPER_USER_ONLY[name])
        unauthorized: list = []
        invalid: list = []
        if name == "sql":
            for database, table, attributes, need in read:
                access = self.access(principal, database, table, invalid)
                if access is not None:
                    access.check((need,), attributes, (need,) if need != "delete" else (), unauthorized, invalid)
        elif name in ("describe_database", "describe_schema"):
            database = with_database(op)["database"]
            if not any(self.describe_filter(principal, t) for t in self.catalog.tables(database)):
                invalid.append(database_missing(database))
        elif name == "describe_table":
            op = with_database(op)
            table = self.catalog.table(op["database"], op["table"]) if isinstance(op.get("table"), str) else None
            if table is not None and self.describe_filter(principal, table) is None:
                invalid.append(table_missing(op["database"], op["table"]))
            elif table is None and isinstance(op.get("table"), str):
                invalid.append(table_missing(op["database"], op["table"]))
        elif name in LOADS or name in _TABLE_NEEDS:
            op = with_database(op)
            if not isinstance(op.get("table"), str):
                return  # the operation's own validation names the missing table
            access = self.access(principal, op["database"], op["table"], invalid)
            if access is not None:
                if name in LOADS:
                    access.check(load_permissions(op.get("action")), (), (), unauthorized, invalid)
                else:
                    access.check(_TABLE_NEEDS[name], _attributes_of(op, access.table),
                                 _ATTRIBUTE_NEEDS.get(name, ()), unauthorized, invalid)
        if unauthorized or invalid:
            raise not_authorized(unauthorized, invalid)

    def _check_system(self, op: dict, principal: Principal | None, read: list) -> None:
        """The system database: changed by nobody, read and described by super users only (Harper's answers).

        ``read``: an SQL statement's table references (``validate_sql.references``)."""
        name = op.get("operation")
        if name == "sql":
            for database, table, _, need in read:  # SQL's INSERT / UPDATE / DELETE into the system database
                if database == system.SYSTEM and need != "read":
                    raise system.refuse_change(need, table)
            touched = [table for database, table, *_ in read if database == system.SYSTEM]
        elif name in system.CHANGES or name in system.DESCRIBES or name in _TABLE_NEEDS:
            scoped = with_database(op)
            touched = [scoped.get("table")] if scoped["database"] == system.SYSTEM else []
        else:
            return
        privileged = principal is None or principal.super_user
        for table in touched:
            if name in system.CHANGES:
                raise system.refuse_change(name, table, op.get("action"))
            if name in system.DESCRIBES:
                if not privileged:
                    raise system.refuse_metadata()
                if name != "describe_table" or table is None:
                    continue
            if table not in system.TABLES:
                raise system.refuse_unknown(table)
            if not privileged:
                raise system.refuse_read(table, _TABLE_NEEDS.get(name) or ("read",))

    def check_load_columns(self, principal: Principal | None, table: TableDef, names: Iterable[str],
                           action: str) -> None:
        """A bulk load's columns against the role's attribute permissions, once the source is read.

        Harper does this while it validates the file; the job then ends in ERROR
        with the permissions object as its message (DECISIONS 14).
        """
        if principal is None or principal.super_user:
            return
        unauthorized: list = []
        invalid: list = []
        access = self.access(principal, table.database, table.name, invalid)
        if access is not None:
            access.check((), names, load_permissions(action), unauthorized, invalid)
        if unauthorized or invalid:
            raise not_authorized(unauthorized, invalid)

    def narrow(self, op: dict, principal: Principal | None) -> dict:
        """A NoSQL search's ``*`` as the attributes the role may read (Harper answers with those only)."""
        wanted = _get_attributes(op)
        if principal is None or principal.super_user or "*" not in wanted:
            return op
        op = with_database(op)
        access = self.access(principal, op["database"], str(op.get("table")), [])
        if access is None or access.attributes is None:
            return op
        op.pop("select", None)
        return {**op, "get_attributes": [a for a in wanted if a != "*"] + access.readable()}

    def readable(self, principal: Principal | None, table: TableDef) -> list[str] | None:
        """The attributes of ``table`` an SQL ``*`` shows ``principal``; None: all of them."""
        access = self.describe_filter(principal, table)
        if access is None or access.attributes is None:
            return None
        return access.readable()

    def describe_filter(self, principal: Principal | None, table: TableDef) -> TableAccess | None:
        """The access a describe shows a table with; None: the table is not shown."""
        if principal is None or principal.super_user:
            return TableAccess(table, None)
        entry = principal.permission.get(table.database)
        perms = (entry.get("tables") or {}).get(table.name) if isinstance(entry, dict) else None
        access = TableAccess(table, perms)
        return access if access.visible else None


def _attributes_of(op: dict, table: TableDef) -> list[str]:
    """The attributes an operation touches, for the per-attribute check."""
    name = op.get("operation")
    if name in ("insert", "update", "upsert"):
        records = op.get("records") if isinstance(op.get("records"), list) else []
        return [str(k) for r in records if isinstance(r, dict) for k in r]
    attributes = _get_attributes(op)
    if isinstance(op.get("search_attribute"), str):
        attributes.append(op["search_attribute"])
    stack = list(op.get("conditions") or []) if isinstance(op.get("conditions"), list) else []
    while stack:
        condition = stack.pop(0)
        if isinstance(condition, dict):
            if isinstance(condition.get("search_attribute"), str):
                attributes.append(condition["search_attribute"])
            stack.extend(condition.get("conditions") or [])
    return attributes


def _get_attributes(op: dict) -> list[str]:
    wanted = op.get("get_attributes", op.get("select", ["*"]))
    return [a for a in wanted if isinstance(a, str)] if isinstance(wanted, list) else []
