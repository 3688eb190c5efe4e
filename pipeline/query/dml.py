"""SQL's INSERT, UPDATE and DELETE as pipeline work: what the requester sends, and what a shard applies.

- ``INSERT INTO db.t (cols) VALUES (...), ...`` becomes records, written like an ``insert`` (generated
  keys, attribute creation, ``inserted_hashes``/``skipped_hashes``); the VALUES are evaluated once, by the
  requester (:mod:`pipeline.query.expr`).
- ``UPDATE db.t SET a = expr ... WHERE cond`` and ``DELETE FROM db.t WHERE cond`` become one command to every
  shard (:class:`DmlSpec`, the payload of an ``SQL_UPDATE``/``SQL_DELETE`` on ``shard-log``): each shard
  evaluates the WHERE and the SET on its current rows when it applies the command, in the order of its log,
  so no write can slip between choosing a row and changing it. The statement travels as SQL text and is
  compiled on the shard.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

from sqlglot import exp

from .. import codec
from ..catalog import TIMESTAMPS, Catalog, TableDef
from ..contract.errors import HarperError
from ..contract.names import NAME
from ..contract.validate_sql import HarperSQL, parse_expression, table_of, target
from .expr import NotEvaluable, compile_expression, compile_where

_NAMES_REFUSED = "Attribute names cannot include backticks or forward slashes"


@dataclass(frozen=True)
class Insert:
    table: TableDef
    records: list[dict[str, Any]]


@dataclass(frozen=True)
class DmlSpec:
    """An UPDATE or DELETE as a shard applies it: the WHERE (SQL text, None: every row) and, for an UPDATE,
    each attribute's new value as SQL text."""

    action: str  # "update" or "delete"
    where: str | None
    assignments: dict[str, str]

    def to_json(self) -> bytes:
        return codec.dumps({"action": self.action, "where": self.where, "set": self.assignments})

    @classmethod
    def from_json(cls, data: bytes) -> "DmlSpec":
        raw = codec.loads(data)
        return cls(raw["action"], raw.get("where"), dict(raw.get("set") or {}))


@dataclass(frozen=True)
class Change:
    table: TableDef
    spec: DmlSpec


def _check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise HarperError(_NAMES_REFUSED)


def _evaluable(node: exp.Expression) -> Callable[[dict], Any]:
    try:
        return compile_expression(node)
    except NotEvaluable as err:
        raise HarperError(str(err)) from None


def plan_dml(statement: exp.Expression, catalog: Catalog) -> Insert | Change:
    written = target(statement)
    if written.db and catalog.has_database(written.db) and catalog.table(written.db, written.name) is None:
        raise HarperError(f"table {written.db}.{written.name} does not exist", 500)  # Harper's DML answer
    table = table_of(written, catalog)
    if isinstance(statement, exp.Insert):
        columns = [i.name for i in statement.this.expressions]
        for name in columns:
            _check_name(name)
        records = []
        for values in statement.expression.expressions:
            cells = values.expressions if isinstance(values, exp.Tuple) else [values]
            if len(cells) != len(columns):
                raise HarperError("The number of values does not match the number of columns")
            records.append({name: _evaluable(cell)({}) for name, cell in zip(columns, cells)})
        return Insert(table, records)
    where = statement.args.get("where")
    where_sql = where.this.sql(dialect=HarperSQL) if where is not None else None
    if where is not None:
        _evaluable(where.this)
    assignments: dict[str, str] = {}
    if isinstance(statement, exp.Update):
        for assignment in statement.expressions:
            if not isinstance(assignment, exp.EQ) or not isinstance(assignment.this, exp.Column):
                raise HarperError(f"Invalid SET clause: {assignment.sql(dialect=HarperSQL)}")
            name = assignment.this.name
            _check_name(name)
            _evaluable(assignment.expression)
            if name in TIMESTAMPS or name == table.primary_key:
                continue  # Harper keeps its timestamps, and a key is not changed by an update
            assignments[name] = assignment.expression.sql(dialect=HarperSQL)
    return Change(table, DmlSpec("update" if isinstance(statement, exp.Update) else "delete", where_sql,
                                 assignments))


def applier(spec: DmlSpec, primary_key: str) -> Callable[[Iterator[dict[str, Any]]], list[dict[str, Any]]]:
    """The shard's side: from a table's current rows, the changes to write (an UPDATE: the key and the new
    values; a DELETE: the key of each row to delete)."""
    matches = compile_where(spec.where) if spec.where else (lambda row: True)
    setters = {name: compile_expression(parse_expression(sql)) for name, sql in spec.assignments.items()}

    def changes(rows: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for row in rows:
            if not matches(row):
                continue
            if spec.action == "delete":
                out.append({primary_key: row[primary_key]})
            else:
                out.append({primary_key: row[primary_key], **{n: s(row) for n, s in setters.items()}})
        return out
    return changes
