"""This worker's shard stores: one RocksDB per ``shard-log`` partition it has applied, under ``data_dir/shards``."""
from __future__ import annotations

from pathlib import Path

from .rocksdb import ShardStore
from .store import Store


class ShardStores:
    """The stores of the shards this worker holds or has held, opened on first use and kept open."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.opened: dict[int, Store] = {}

    def store(self, shard: int) -> Store:
        store = self.opened.get(shard)
        if store is None:
            store = self.opened[shard] = ShardStore(self.path(shard))
        return store

    def path(self, shard: int) -> Path:
        return self.directory / f"{shard:04d}"

    def memory(self) -> dict[str, int]:
        """The stores' memory by kind: memtables and table readers add up; the block cache is shared."""
        total = {"memtables": 0, "table_readers": 0, "block_cache": 0}
        for store in self.opened.values():
            for kind, size in store.memory().items():
                total[kind] = max(total[kind], size) if kind == "block_cache" else total[kind] + size
        return total

    def close(self) -> None:
        for store in self.opened.values():
            store.close()
        self.opened.clear()
