"""What both CSV readers (the line reader, :mod:`pipeline.sources.csv`, and the block reader,
:mod:`pipeline.sources.chunks`) share: where reading can resume, a batch, and the record of a row.

This module imports no more than Harper's typing (:mod:`pipeline.cells`), so
that a parse process (:mod:`pipeline.parsing`) starts with little.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..cells import CellError, type_cell
from .exceptions import CsvError

UTF8 = "utf-8"
#: where Harper (papaparse) puts the cells of a row beyond the header's
EXTRA = "__parsed_extra"
#: lines of rows with extra cells remembered for the job's result (all of them are counted)
RAGGED_LINES_KEPT = 10


@dataclass(frozen=True)
class ResumePoint:
    """Where reading can continue: the byte offset of a record's start, and what the reader knew."""

    offset: int
    line: int  # physical lines before ``offset``
    header: tuple[str, ...]
    delimiter: str
    #: the text encoding decided so far (None: every line was ASCII)
    encoding: str | None = None
    #: rows with more cells than the header so far, and the lines of the first of them
    ragged: int = 0
    ragged_lines: tuple[int, ...] = ()


@dataclass
class Batch:
    records: list[dict[str, Any]]
    first_line: int  # 1-based physical line where the first record starts
    resume: ResumePoint  # just after this batch's last record

    @property
    def end_offset(self) -> int:
        return self.resume.offset


class BatchLimit:
    """How many records the batch a reader is reading may hold: ``size``, or fewer when its caller asks
    (:meth:`up_to`) before it asks for the batch, so that a batch ends where a load checkpoints."""

    def __init__(self, size: int) -> None:
        self.size = self.rows = max(1, size)

    def cap(self, size: int) -> None:
        """Batches hold ``size`` records at most (a wide file's: see ``CELLS_PER_BATCH``)."""
        self.size = self.rows = max(1, min(self.size, size))

    def up_to(self, rows: int) -> None:
        """The next batch holds ``rows`` records at most (and ``size`` at most)."""
        self.rows = max(1, min(self.size, rows))


class Ragged:
    """The rows with more cells than the header: how many, and the lines of the first of them."""

    def __init__(self, count: int = 0, lines: tuple[int, ...] = ()) -> None:
        self.count, self.lines = count, list(lines)

    @classmethod
    def at(cls, point: ResumePoint) -> "Ragged":
        return cls(point.ragged, point.ragged_lines)

    def add(self, line: int) -> None:
        self.count += 1
        if len(self.lines) < RAGGED_LINES_KEPT:
            self.lines.append(line)

    def merge(self, count: int, lines: tuple[int, ...]) -> None:
        """Count the ragged rows another reader found after these (``lines``: the first of theirs)."""
        self.count += count
        self.lines += lines[:RAGGED_LINES_KEPT - len(self.lines)]


def record(header: tuple[str, ...], row: list[str], line: int, ragged: Ragged) -> dict[str, Any]:
    """The typed record of one row that starts at ``line``."""
    width = len(header)
    typed = _typed(header, row[:width], line)
    if len(row) > width:
        typed[EXTRA] = [_typed_cell(EXTRA, cell, line) for cell in row[width:]]
        ragged.add(line)
    return typed


def _typed(header: tuple[str, ...], row: list[str], line: int) -> dict[str, Any]:
    try:
        return dict(zip(header, map(type_cell, row)))
    except CellError:
        for name, cell in zip(header, row):
            _typed_cell(name, cell, line)
        raise


def _typed_cell(name: str, cell: str, line: int) -> Any:
    try:
        return type_cell(cell)
    except CellError as err:
        raise CsvError(f"line {line}, column '{name}': {err}", line) from None
