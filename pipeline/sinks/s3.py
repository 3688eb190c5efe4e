"""An S3 object written as rows arrive: a multipart upload, completed at the end, aborted on failure.

Parts are uploaded whenever ``part_bytes`` (at least S3's 5 MiB) have been
written, so memory holds one part at most. An export smaller than one part
is sent with a single PUT. If anything fails, the upload is aborted: no
partial object is left behind.
"""
from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


class S3Upload:
    def __init__(self, client: Any, bucket: str, key: str, part_bytes: int) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.part_bytes = part_bytes
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.result: dict[str, Any] = {}

    def __enter__(self) -> "S3Upload":
        return self

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        """Parts go up when full; nothing to do before that."""

    def write(self, data: bytes) -> int:
        self._buffer += data
        if len(self._buffer) >= self.part_bytes:
            self._upload_part(bytes(self._buffer))
            self._buffer.clear()
        return len(data)

    @property
    def multipart(self) -> bool:
        return self._upload_id is not None

    def _upload_part(self, body: bytes) -> None:
        if self._upload_id is None:
            self._upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key)["UploadId"]
        number = len(self._parts) + 1
        answer = self.client.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id,
                                         PartNumber=number, Body=body)
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def __exit__(self, kind, error, trace) -> None:
        if kind is not None:
            if self._upload_id is not None:
                try:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
                except Exception:  # noqa: BLE001 - the upload's own error is the one to report
                    # never completed, so no object exists; its parts stay until a lifecycle rule removes them
                    log.warning("could not abort an S3 multipart upload", exc_info=True,
                                extra={"bucket": self.bucket, "key": self.key, "upload_id": self._upload_id})
            return
        if self._upload_id is None:
            answer = self.client.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self._buffer))
        else:
            if self._buffer:
                self._upload_part(bytes(self._buffer))
            answer = self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts})
        self.result = {"ETag": answer.get("ETag"), "Bucket": self.bucket, "Key": self.key}
        for name in ("VersionId", "Location"):
            if answer.get(name):
                self.result[name] = answer[name]
