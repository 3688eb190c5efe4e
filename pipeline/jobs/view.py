"""Every job record, folded from the compacted ``jobs`` topic in every worker, so any worker answers ``get_job``."""
from __future__ import annotations

from typing import Any, Callable

#: called with a job's id each time its record changes
Watcher = Callable[[str], None]

from .events import FINAL
from .fold import all_applied


class JobsView:
    """Every job record, folded from the ``jobs`` topic."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self._watchers: list[Watcher] = []

    def fold(self, key: str, value: dict[str, Any] | None) -> None:
        if value is None:
            self.records.pop(key, None)
        else:
            current = self.records.get(key)
            if current is not None and value.get("_v", 0) < current.get("_v", 0):
                return
            if current == value:
                return  # the worker's own write coming back from the topic
            self.records[key] = value
        for watcher in list(self._watchers):
            watcher(key)

    def watch(self, watcher: Watcher) -> Callable[[], None]:
        """Call ``watcher`` with a job's id whenever its record changes (the jobs page's live feed); returns
        the function that stops it. A watcher runs inside the fold: it must only take note, not work."""
        self._watchers.append(watcher)
        return lambda: self._watchers.remove(watcher)

    def get(self, job_id: str) -> dict[str, Any] | None:
        return self.records.get(job_id)

    def caught_up(self, job_id: str, batches: int, commands: list[int]) -> Callable[[], bool]:
        """A check for :meth:`LogView.wait_for`: the record holds the checkpoint after ``batches`` source
        batches (or a later one), and every shard has applied ``commands[shard]`` of the job's commands."""
        def check() -> bool:
            record = self.records.get(job_id) or {}
            if record.get("status") in FINAL:
                return True
            return (record.get("_resume") or {}).get("batches", 0) >= batches and all_applied(record, commands)
        return check

    def started_between(self, start_ms: float, end_ms: float) -> list[dict[str, Any]]:
        return [r for r in self.records.values()
                if r.get("start_datetime") is not None and start_ms < r["start_datetime"] < end_ms]
