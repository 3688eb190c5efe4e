"""The catalog: databases, tables, primary keys and the attributes each table has seen.

Every worker holds the whole catalog in memory, folded from the compacted
``catalog`` topic (see :mod:`pipeline.kafka.logview`). Keys are ``db`` for a
database, ``db/table`` for a table and ``db/table/attr`` for an attribute, so
two workers adding attributes to the same table never overwrite each other;
a drop writes tombstones.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

TIMESTAMPS = ("__createdtime__", "__updatedtime__")


@dataclass
class TableDef:
    database: str
    name: str
    primary_key: str
    created: float = 0.0
    #: attribute name -> epoch ms it was first seen (insertion order kept)
    attributes: dict[str, float] = field(default_factory=dict)
    #: a read-only table whose rows a worker's in-memory view serves (the system database), not the shards
    view: bool = False

    @property
    def qualified(self) -> str:
        return f"{self.database}.{self.name}"

    def attribute_names(self) -> list[str]:
        return list(self.attributes)


class Catalog:
    """In-memory catalog, folded from catalog records (key, value)."""

    def __init__(self) -> None:
        self._databases: dict[str, float] = {}
        self._tables: dict[tuple[str, str], TableDef] = {}
        self._views: set[str] = set()

    def define_view(self, database: str, table: str, primary_key: str, attributes: Iterable[str]) -> None:
        """A read-only table served by a view (the system database): defined in every worker at start,
        never recorded on the topic, and never changed or dropped by a catalog record."""
        self._views.add(database)
        self._databases.setdefault(database, 0.0)
        self._tables[(database, table)] = TableDef(database, table, primary_key, 0.0,
                                                   dict.fromkeys(attributes, 0.0), view=True)

    # ---- reads -------------------------------------------------------------
    def has_database(self, database: str) -> bool:
        return database in self._databases

    def databases(self, views: bool = True) -> list[str]:
        """Every database; ``views=False``: only those that hold data (not the system database)."""
        return sorted(d for d in self._databases if views or d not in self._views)

    def table(self, database: str, table: str) -> TableDef | None:
        return self._tables.get((database, table))

    def tables(self, database: str) -> list[TableDef]:
        return sorted((t for (db, _), t in self._tables.items() if db == database), key=lambda t: t.name)

    # ---- the records that change it -----------------------------------------
    @staticmethod
    def database_record(database: str, created: float) -> tuple[str, dict]:
        return database, {"kind": "database", "database": database, "created": created}

    @staticmethod
    def table_record(database: str, table: str, primary_key: str, created: float) -> tuple[str, dict]:
        return f"{database}/{table}", {"kind": "table", "database": database, "table": table,
                                       "primary_key": primary_key, "created": created}

    @staticmethod
    def attribute_key(database: str, table: str, attribute: str) -> str:
        return f"{database}/{table}/{attribute}"

    @classmethod
    def attribute_record(cls, database: str, table: str, attribute: str, created: float) -> tuple[str, dict]:
        return cls.attribute_key(database, table, attribute), {"kind": "attribute", "database": database,
                                                               "table": table, "attribute": attribute,
                                                               "created": created}

    def new_attribute_records(self, tdef: TableDef, names: Iterable[str], now: float) -> list[tuple[str, dict]]:
        return [self.attribute_record(tdef.database, tdef.name, n, now)
                for n in dict.fromkeys(names) if n not in tdef.attributes]

    def drop_table_keys(self, database: str, table: str) -> list[str]:
        tdef = self._tables.get((database, table))
        attrs = tdef.attributes if tdef else {}
        return [self.attribute_key(database, table, a) for a in attrs] + [f"{database}/{table}"]

    def drop_database_keys(self, database: str) -> list[str]:
        keys: list[str] = []
        for tdef in self.tables(database):
            keys += self.drop_table_keys(database, tdef.name)
        return keys + [database]

    def apply(self, key: str, value: dict[str, Any] | None) -> None:
        """Fold one catalog record (``value`` None is a tombstone); the views' database is not the topic's."""
        parts = key.split("/")
        if parts[0] in self._views:
            return
        if value is None:
            if len(parts) == 1:
                self._databases.pop(parts[0], None)
            elif len(parts) == 2:
                self._tables.pop((parts[0], parts[1]), None)
            else:
                tdef = self._tables.get((parts[0], parts[1]))
                if tdef:
                    tdef.attributes.pop("/".join(parts[2:]), None)
            return
        kind = value["kind"]
        if kind == "database":
            self._databases.setdefault(value["database"], value["created"])
        elif kind == "table":
            db, name = value["database"], value["table"]
            self._databases.setdefault(db, value["created"])
            if (db, name) not in self._tables:
                tdef = TableDef(db, name, value["primary_key"], value["created"])
                for attr in (tdef.primary_key, *TIMESTAMPS):
                    tdef.attributes.setdefault(attr, value["created"])
                self._tables[(db, name)] = tdef
        elif kind == "attribute":
            tdef = self._tables.get((value["database"], value["table"]))
            if tdef is not None:
                tdef.attributes.setdefault(value["attribute"], value["created"])
