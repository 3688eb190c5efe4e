"""csv_file_load's source: a regular file under the allowed directories, opened without blocking.

The path was checked when the operation was submitted and again when its job
started (:func:`pipeline.contract.validate_jobs.check_readable`), but it can
be swapped in between: for a FIFO, whose ``open()`` waits for a writer (on
the event loop, that would freeze the whole worker), a device that never
ends, or a link to a file elsewhere. So the file is opened with
``O_NONBLOCK`` (which never waits), in a thread, and checked again by what
was actually opened.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from pathlib import Path
from typing import BinaryIO, Sequence

from ..contract.answers import not_a_regular_file, outside_allowed_dirs
from ..contract.validate_jobs import inside
from .base import Position, SourcePartition
from .csv import MAX_RECORD_BYTES
from .exceptions import FileRefused


def open_regular_file(file_path: str, allowed_dirs: Sequence[Path]) -> BinaryIO:
    """The file at ``file_path`` for reading; FileRefused if it is not a regular file under ``allowed_dirs``."""
    fd = os.open(file_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileRefused(not_a_regular_file(file_path))
        if not inside(_opened_path(fd, file_path), allowed_dirs):
            raise FileRefused(outside_allowed_dirs(file_path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _opened_path(fd: int, file_path: str) -> Path:
    """Where the open file really is (Linux names it in /proc), else where its path leads now."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return Path(os.path.realpath(file_path))


class FileSource(SourcePartition):
    def __init__(self, path: Path, allowed_dirs: Sequence[Path], batch_size: int,
                 resume: Position | None = None, max_record_bytes: int = MAX_RECORD_BYTES) -> None:
        super().__init__(batch_size, resume, max_record_bytes)
        self.path = path
        self.allowed_dirs = allowed_dirs

    async def open_stream(self, stack: contextlib.AsyncExitStack) -> BinaryIO:
        return stack.enter_context(await asyncio.to_thread(open_regular_file, str(self.path), self.allowed_dirs))
