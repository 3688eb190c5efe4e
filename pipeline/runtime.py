"""What one worker process holds: its producer, the views of the compacted topics, the replies it waits for,
its shard stores.

The operations (:mod:`pipeline.ops`) and the agents (:mod:`pipeline.app`)
are built from this; each takes the parts it needs.
"""
from __future__ import annotations

import asyncio
import logging

from .auth.directory import Directory
from .catalog import Catalog
from .config import Settings
from .jobs.events import WORKER_NAME
from .jobs.view import JobsView
from .kafka.bus import Bus
from .kafka.exceptions import TopicMismatch
from .kafka.localstate import LocalState
from .kafka.logview import LogView
from .kafka.replies import Replies
from .metrics import Metrics
from .shard.stores import ShardStores

log = logging.getLogger(__name__)

#: seconds a stopping worker waits to fold what others wrote to the views
VIEWS_CATCH_UP_TIMEOUT = 2.0


class Worker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bus = Bus(settings)
        self.state = LocalState(settings.data_dir / "state") if settings.views_copy else None
        self.catalog = Catalog()
        self.catalog_log = LogView(self.bus, "catalog", self.catalog.apply, self.state)
        self.jobs = JobsView()
        self.jobs_log = LogView(self.bus, "jobs", self.jobs.fold, self.state)
        self.directory = Directory()
        self.auth_log = LogView(self.bus, "auth", self.directory.apply, self.state)
        self.metrics = Metrics(WORKER_NAME)
        self.replies = Replies(self.bus, self.metrics, settings.process_index)
        self.stores = ShardStores(settings.shard_stores_dir)
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
        shards = len(await self.bus.partitions("shard-log"))
        if shards != self.settings.shard_partitions:  # create_topics checked it; a topic recreated since?
            raise TopicMismatch(f"shard-log has {shards} partitions but {self.settings.shard_partitions} are "
                                "configured; recreate it or change the partition setting")
        tables = sum(len(self.catalog.tables(db)) for db in self.catalog.databases(views=False))
        self.ready.set()
        log.info("worker ready", extra={"shards": shards, "data_dir": str(self.settings.data_dir),
                                        "tables": tables})

    async def stop(self) -> None:
        # The local copy of the views is what a broker that lost its log is given back (the embedded one):
        # fold what other workers wrote up to now first (`up` stops its other processes before the one whose
        # copy it keeps, see pipeline.cli.processes).
        try:
            await asyncio.wait_for(asyncio.gather(self.catalog_log.catch_up(), self.jobs_log.catch_up(),
                                                  self.auth_log.catch_up()), VIEWS_CATCH_UP_TIMEOUT)
        except Exception as err:  # noqa: BLE001 - a broker gone or slow: stop with the copy as it is
            log.debug("views not caught up at stop", extra={"error": repr(err)})
        await self.replies.stop()
        await self.catalog_log.stop()
        await self.jobs_log.stop()
        await self.auth_log.stop()
        await self.bus.stop()
        self.stores.close()
        if self.state is not None:
            self.state.close()
