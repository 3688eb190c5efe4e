"""A worker's own copy of the small global views (catalog, jobs), kept in its data directory.

With a broker that keeps its log, the topics are the truth and this copy is
never read. The embedded broker forgets everything when it stops; then this
copy is what the worker republishes, so databases, tables and job history
survive a restart of ``make run``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from rocksdict import Options, Rdict

from .. import codec


class LocalState:
    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        self.db = Rdict(str(path), options)

    def put(self, view: str, key: str, value: Any) -> None:
        full = f"{view}\x00{key}".encode()
        if value is None:
            self.db.delete(full)
        else:
            self.db.put(full, codec.dumps(value))

    def items(self, view: str) -> Iterator[tuple[str, Any]]:
        prefix = f"{view}\x00".encode()
        for key, value in self.db.items(from_key=prefix):
            if not key.startswith(prefix):
                break
            yield key[len(prefix):].decode(), codec.loads(value)

    def close(self) -> None:
        self.db.close()
