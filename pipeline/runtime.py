"""What one worker process holds: its producer, the catalog and jobs views, its shard stores."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from .auth.policy import Directory
from .catalog import Catalog
from .config import Settings
from .jobs.fold import JobsView
from .kafka.bus import Bus
from .kafka.localstate import LocalState
from .kafka.logview import LogView
from .query.gather import Replies
from .shard.rocksdb import ShardStore

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bus = Bus(settings)
        self.state = LocalState(settings.data_dir / "state")
        self.catalog = Catalog()
        self.catalog_log = LogView(self.bus, "catalog", self.catalog.apply, self.state)
        self.jobs = JobsView()
        self.jobs_log = LogView(self.bus, "jobs", self.jobs.fold, self.state)
        self.directory = Directory()
        self.auth_log = LogView(self.bus, "auth", self.directory.apply, self.state)
        self.replies = Replies(self.bus)
        self.stores: dict[int, ShardStore] = {}
        self.shards = settings.shard_partitions
        self.ready = asyncio.Event()

    async def start(self) -> None:
        await self.bus.start()
        await self.catalog_log.start()
        await self.jobs_log.start()
        await self.auth_log.start()
        await self.replies.start()
        await asyncio.gather(self.catalog_log.ready(), self.jobs_log.ready(), self.auth_log.ready())
        for key, value in self.directory.bootstrap_records(self.settings.admin_username,
                                                           self.settings.admin_password):
            await self.auth_log.put(key, value)
            if key.startswith("user/"):
                log.info("created the first super user", extra={"username": self.settings.admin_username})
        self.shards = len(await self.bus.partitions("shard-log"))
        for path in sorted((self.settings.data_dir / "shards").glob("[0-9]*")):
            self.store(int(path.name))
        tables = sum(len(self.catalog.tables(db)) for db in self.catalog.databases())
        records = sum(store.estimated_records() for store in self.stores.values())
        self.ready.set()
        log.info("worker ready", extra={"shards": self.shards, "data_dir": str(self.settings.data_dir),
                                        "tables": tables, "records_estimated": records})

    async def stop(self) -> None:
        await self.replies.stop()
        await self.catalog_log.stop()
        await self.jobs_log.stop()
        await self.auth_log.stop()
        await self.bus.stop()
        for store in self.stores.values():
            store.close()
        self.stores.clear()
        self.state.close()

    def store(self, shard: int) -> ShardStore:
        store = self.stores.get(shard)
        if store is None:
            store = self.stores[shard] = ShardStore(self.shard_path(shard))
        return store

    def shard_path(self, shard: int) -> Path:
        return self.settings.data_dir / "shards" / f"{shard:04d}"
