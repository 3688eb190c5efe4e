"""import_from_s3's source: an S3 object's body, streamed; a ``.json`` key is a JSON array of records."""
from __future__ import annotations

import asyncio
import contextlib
import io
from typing import Any, BinaryIO

from .. import s3
from ..config import Settings
from .base import Position, SourcePartition


class S3Source(SourcePartition):
    def __init__(self, location: dict[str, Any], settings: Settings, batch_size: int,
                 resume: Position | None = None) -> None:
        """``location``: the operation's ``s3`` object (bucket, key, region, credentials if any)."""
        super().__init__(batch_size, resume, settings.max_record_bytes)
        self.location = location
        self.settings = settings
        self.json_records = location["key"].endswith(".json")

    async def open_stream(self, stack: contextlib.AsyncExitStack) -> BinaryIO:
        bucket, key = self.location["bucket"], self.location["key"]
        try:
            client = s3.client(self.location, self.settings)
            answer = await asyncio.to_thread(client.get_object, Bucket=bucket, Key=key)
        except s3.S3_ERRORS as err:
            raise s3.error(err, bucket, key) from None
        return stack.enter_context(io.BufferedReader(_S3Body(answer["Body"], bucket, key), 1024 * 1024))


class _S3Body(io.RawIOBase):
    """An S3 object's body as a raw stream; a connection cut mid-download names the object."""

    def __init__(self, body: Any, bucket: str, key: str) -> None:
        self._body, self._bucket, self._key = body, bucket, key

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:  # type: ignore[override]
        try:
            data = self._body.read(len(target))
        except (s3.S3_ERRORS + (OSError,)) as err:
            raise s3.error(err, self._bucket, self._key) from None
        target[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()
