"""Snapshots of a worker's shard stores, so a replacement worker replays from them, not from the beginning.

``take`` makes a RocksDB checkpoint of every local shard (hard links where
the file system allows: quick, and consistent per shard because the shard
writer runs on the same event loop). Each checkpoint holds its shard's
``shard-log`` offset, so a worker restored from it replays only the commands
after that offset. ``restore`` puts a snapshot's shards into a data
directory, for a worker that is not running yet.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from rocksdict import Checkpoint

from .store.shard import ShardStore

MANIFEST = "snapshot.json"


def take(stores: dict[int, ShardStore], directory: Path) -> dict:
    """Checkpoint ``stores`` into a new ``directory``; the manifest lists each shard's offset and log epoch."""
    if directory.exists():
        raise FileExistsError(f"{directory} already exists: a snapshot goes into a new directory")
    (directory / "shards").mkdir(parents=True)
    shards = {}
    for shard, store in sorted(stores.items()):
        Checkpoint(store.db).create_checkpoint(str(directory / "shards" / f"{shard:04d}"))
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
