"""Snapshots of a worker's shard stores, so a replacement worker replays from them, not from the beginning.

``take`` makes a RocksDB checkpoint of every local shard (hard links where
the file system allows: quick, and consistent per shard because the shard
writer runs on the same event loop). Each checkpoint holds its shard's
``shard-log`` offset, so a worker restored from it replays only the commands
after that offset. ``restore`` puts a snapshot's shards into a data
directory, for a worker that is not running yet.

A snapshot can also live in S3 (``s3://bucket/prefix/name``): it is taken
locally, uploaded file by file with the manifest last (a snapshot without
its manifest is incomplete and is never restored), and downloaded again to
restore.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from .store import Store

MANIFEST = "snapshot.json"


def take(stores: dict[int, Store], directory: Path) -> dict:
    """Checkpoint ``stores`` into a new ``directory``; the manifest lists each shard's offset and log epoch."""
    if directory.exists():
        raise FileExistsError(f"{directory} already exists: a snapshot goes into a new directory")
    (directory / "shards").mkdir(parents=True)
    shards = {}
    for shard, store in sorted(stores.items()):
        store.checkpoint(directory / "shards" / f"{shard:04d}")
        shards[str(shard)] = {"offset": store.offset, "epoch": store.epoch}
    manifest = {"taken": int(time.time() * 1000), "shards": shards}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def restore(directory: Path, data_dir: Path) -> list[int]:
    """Replace the shard stores of ``data_dir`` with those of a snapshot (the worker must be stopped)."""
    manifest = json.loads((directory / MANIFEST).read_text())
    restored = []
    for shard in sorted(int(s) for s in manifest["shards"]):
        target = data_dir / "shards" / f"{shard:04d}"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(directory / "shards" / f"{shard:04d}", target)
        restored.append(shard)
    return restored


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` → (bucket, prefix without surrounding slashes)."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"'{url}' names no bucket: use s3://bucket/prefix")
    return bucket, prefix.strip("/")


def upload(directory: Path, client: Any, bucket: str, prefix: str) -> None:
    """Copy a snapshot directory to ``s3://bucket/prefix/``; the manifest goes last."""
    if client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/{MANIFEST}").get("KeyCount"):
        raise FileExistsError(f"s3://{bucket}/{prefix} already holds a snapshot: a snapshot goes under a new name")
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(directory).as_posix()}")
    client.upload_file(str(directory / MANIFEST), bucket, f"{prefix}/{MANIFEST}")


def download(client: Any, bucket: str, prefix: str, directory: Path) -> None:
    """Copy the snapshot at ``s3://bucket/prefix/`` into ``directory``; refuse one without its manifest."""
    try:
        client.head_object(Bucket=bucket, Key=f"{prefix}/{MANIFEST}")
    except client.exceptions.ClientError:
        raise FileNotFoundError(f"s3://{bucket}/{prefix}/{MANIFEST} does not exist: no complete snapshot there") \
            from None
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        for item in page.get("Contents", []):
            target = directory / item["Key"][len(prefix) + 1:]
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, item["Key"], str(target))


def restore_from_s3(client: Any, url: str, data_dir: Path) -> list[int]:
    bucket, prefix = parse_s3_url(url)
    (data_dir / "tmp").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir / "tmp", prefix="restore-") as staging:
        download(client, bucket, prefix, Path(staging))
        return restore(Path(staging), data_dir)
