"""csv_file_load's source: a file on the worker's host (the operation's checks put it under an allowed
directory, :func:`pipeline.contract.validate_jobs.check_readable`)."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import BinaryIO

from .base import Position, SourcePartition


class FileSource(SourcePartition):
    def __init__(self, path: Path, batch_size: int, resume: Position | None = None) -> None:
        super().__init__(batch_size, resume)
        self.path = path

    async def open_stream(self, stack: contextlib.AsyncExitStack) -> BinaryIO:
        return stack.enter_context(open(self.path, "rb"))
