"""A local file that appears whole or not at all: written under a temporary name, renamed when complete."""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import BinaryIO


class AtomicFile:
    """``with AtomicFile(path) as out: ...``: the file exists at ``path`` only if the block succeeded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.partial"
        self._file: BinaryIO | None = None

    def __enter__(self) -> BinaryIO:
        self._file = open(self.partial, "wb", buffering=1024 * 1024)
        return self._file

    def __exit__(self, kind, error, trace) -> None:
        assert self._file is not None
        try:
            if kind is None:
                self._file.flush()
                os.fsync(self._file.fileno())
            self._file.close()
            if kind is None:
                os.replace(self.partial, self.path)
        finally:
            if self.partial.exists():
                self.partial.unlink()
