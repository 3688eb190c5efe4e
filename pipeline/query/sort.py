"""Sorting a search's rows by attributes, in bounded runs on disk: memory stays flat whatever the result's size."""
from __future__ import annotations

import heapq
import tempfile
from typing import Any, BinaryIO, Iterator

from .. import codec
from .plan import Rows, order_key

#: rows sorted in memory at a time; more are sorted in runs on disk and merged
SORT_RUN = 50_000


class _SortKey:
    """Orders rows by several attributes, each ascending or descending."""
    __slots__ = ("parts", "descending")

    def __init__(self, row: dict[str, Any], keys: list[tuple[str, bool]]) -> None:
        self.parts = [order_key(row.get(attribute)) for attribute, _ in keys]
        self.descending = [descending for _, descending in keys]

    def __eq__(self, other: object) -> bool:  # heapq.merge compares [key, order, ...] lists: ties must be equal
        return isinstance(other, _SortKey) and self.parts == other.parts

    __hash__ = None  # type: ignore[assignment]

    def __lt__(self, other: "_SortKey") -> bool:
        for mine, theirs, descending in zip(self.parts, other.parts, self.descending):
            if mine != theirs:
                return mine > theirs if descending else mine < theirs
        return False


def sort_rows(rows: Rows, keys: list[tuple[str, bool]], primary_key: str) -> Rows:
    """Rows in ``keys`` order, stable; memory bounded by :data:`SORT_RUN` rows whatever the result's size."""
    if keys == [(primary_key, False)]:
        return rows  # the shards' rows arrive merged in primary-key order already
    runs: list[BinaryIO] = []
    run: list[dict[str, Any]] = []
    for row in rows:
        run.append(row)
        if len(run) >= SORT_RUN:
            runs.append(_spill_run(sorted(run, key=lambda r: _SortKey(r, keys))))
            run = []
    run.sort(key=lambda r: _SortKey(r, keys))
    if not runs:
        return iter(run)
    return heapq.merge(*[_read_run(f) for f in runs], iter(run), key=lambda r: _SortKey(r, keys))


def _spill_run(rows: list[dict[str, Any]]) -> BinaryIO:
    spilled = tempfile.TemporaryFile()
    for row in rows:
        spilled.write(codec.dumps(row) + b"\n")
    spilled.seek(0)
    return spilled


def _read_run(spilled: BinaryIO) -> Iterator[dict[str, Any]]:
    with spilled:
        for line in spilled:
            yield codec.loads(line)
