"""The ``snapshot`` operation (beyond Harper): checkpoint this worker's shard stores into a directory or S3.

See :mod:`pipeline.shard.snapshot` for what a snapshot holds and how a
worker is restored from one.
"""
from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable

from .. import s3
from ..auth.directory import Principal
from ..config import Settings
from ..contract.errors import HarperError
from ..contract.validate_jobs import writable_directory
from ..jobs.events import now_ms
from ..shard import snapshot
from ..shard.stores import ShardStores


class Snapshots:
    def __init__(self, stores: ShardStores, settings: Settings) -> None:
        self.stores = stores
        self.settings = settings
        self.handlers: dict[str, Callable[[dict, Principal | None], Any]] = {"snapshot": self.snapshot}

    async def snapshot(self, op: dict, principal: Principal | None) -> dict:
        """Checkpoint this worker's shard stores into ``path``/``name``, or under ``s3.key``/``name`` in
        ``s3.bucket``."""
        name = str(op.get("name") or f"snapshot-{now_ms()}")
        if "/" in name or name.startswith("."):
            raise HarperError(f"name '{name}' is invalid: it must name a directory inside path")
        if not isinstance(op.get("s3"), dict):
            target = Path(writable_directory(op.get("path"), self.settings.allowed_dirs)) / name
            try:
                manifest = snapshot.take(self.stores.opened, target)
            except FileExistsError as err:
                raise HarperError(str(err)) from None
            return {"message": f"snapshot of {len(manifest['shards'])} shards written to {target}",
                    "path": str(target), "shards": manifest["shards"]}
        bucket = op["s3"].get("bucket")
        if not bucket or not isinstance(bucket, str):
            raise HarperError("s3.bucket is required")
        prefix = "/".join(part for part in (str(op["s3"].get("key") or "").strip("/"), name) if part)
        staging = self.settings.data_dir / "tmp" / f"snapshot-{uuid.uuid4()}"
        manifest = snapshot.take(self.stores.opened, staging)  # on the event loop: no shard changes meanwhile
        try:
            client = s3.client(op["s3"], self.settings)
            await asyncio.to_thread(snapshot.upload, staging, client, bucket, prefix)
        except s3.S3_ERRORS as err:
            raise s3.error(err, bucket, prefix) from None
        except FileExistsError as err:
            raise HarperError(str(err)) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        target = f"s3://{bucket}/{prefix}"
        return {"message": f"snapshot of {len(manifest['shards'])} shards written to {target}",
                "path": target, "shards": manifest["shards"]}
