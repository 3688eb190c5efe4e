"""csv_data_load's source: the CSV text carried in the operation itself."""
from __future__ import annotations

import contextlib
import io
from typing import BinaryIO

from .base import Position, SourcePartition
from .csv import MAX_RECORD_BYTES


class DataSource(SourcePartition):
    def __init__(self, text: str, batch_size: int, resume: Position | None = None,
                 max_record_bytes: int = MAX_RECORD_BYTES) -> None:
        super().__init__(batch_size, resume, max_record_bytes)
        self.text = text

    async def open_stream(self, stack: contextlib.AsyncExitStack) -> BinaryIO:
        return io.BytesIO(self.text.encode())
