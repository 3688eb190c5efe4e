"""How far a job has come, from its record's bookkeeping (pure): what the jobs page draws as a progress bar.

A load's total is known only once its splitter has read the whole source
(SPLIT_DONE: the commands each shard was sent); from then on the fraction is
the share of those commands the shards have applied. Before that the page
shows the rows written so far and their rate, with no fraction: a guess from
the source's size would be wrong for every compressed, chunked or remote
source. A job that has ended is at 100% when COMPLETE.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

from .events import COMPLETE, FINAL


@dataclass(frozen=True)
class Progress:
    #: rows the shards have written (a delete: removed) so far
    rows_written: int
    #: records read from the source so far (at the last checkpoint while splitting; all of them once split)
    rows_parsed: int
    #: 0..1, or None while the total is not known yet
    fraction: float | None
    #: the splitter has read the whole source
    split_done: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def progress(record: Mapping[str, Any]) -> Progress:
    written = int(record.get("_written", 0))
    expected = record.get("_expected")
    split_done = expected is not None
    parsed = int(record.get("_parsed", 0)) if split_done else int((record.get("_resume") or {}).get("parsed", 0))
    if record.get("status") in FINAL:
        fraction = 1.0 if record.get("status") == COMPLETE else None
    elif split_done:
        total = sum(expected)
        applied = record.get("_applied") or []
        done = sum(min(a, e) for a, e in zip(applied, expected))
        fraction = done / total if total else 1.0
    else:
        fraction = None
    return Progress(written, parsed, fraction, split_done)
