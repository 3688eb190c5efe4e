"""Shards changing hands between workers that share one directory of shard stores (the processes of one ``up``).

A RocksDB store can be open in one process at a time (its ``LOCK`` file), and
the processes of one ``harper-pipeline up`` share the stores: on the embedded
broker, which forgets ``shard-log`` when it stops, a shard's store is the only
copy of its records, so it must be one store, not one per process. So a worker
keeps open only the stores of the shards it is assigned. When a rebalance
revokes a shard, the command being applied to it finishes and its store is
closed before the worker rejoins its group, and the group assigns the shard to
another member only once every member has rejoined: the new owner opens the
store where the last one left it and carries on from its stored offset (a
command the last owner applied but did not commit is recognised by its offset,
as after any redelivery). A member that died released the lock with its
process; one that is alive but was dropped from the group (its event loop held
past the session timeout) can hold it a little longer, so the new owner waits
for it.

With a data directory of its own per worker (workers on several machines),
closing a revoked store costs only its reopening if the shard comes back.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import AsyncIterator, Iterable

from .errors import PipelineError
from .shard.stores import ShardStores

log = logging.getLogger(__name__)

#: seconds a newly assigned shard waits for its store's lock before the worker gives up on it
LOCK_TIMEOUT = 60.0
#: seconds between attempts to take a store's lock (a file lock: nothing to wait on but time)
LOCK_RETRY = 0.1


class StoreLocked(PipelineError):
    """A store's lock is still held by another process past :data:`LOCK_TIMEOUT`."""


class ShardHandover:
    def __init__(self, stores: ShardStores, lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.stores = stores
        self.lock_timeout = lock_timeout
        #: shards revoked and not assigned again: a command of theirs still on its way here is not applied
        self._revoked: set[int] = set()
        #: shard -> set once the command being applied to it is done
        self._applying: dict[int, asyncio.Event] = {}

    @contextlib.asynccontextmanager
    async def applying(self, shard: int) -> AsyncIterator[bool]:
        """Around the application of one command: yields False if the shard is no longer this worker's (its
        new owner applies the command from the last committed offset), True once its store is open."""
        if shard in self._revoked:
            yield False
            return
        done = self._applying[shard] = asyncio.Event()
        try:
            await self._open(shard)
            yield True
        finally:
            del self._applying[shard]
            done.set()

    async def _open(self, shard: int) -> None:
        if shard in self.stores.opened:
            return
        deadline = time.monotonic() + self.lock_timeout
        waited = False
        while True:
            try:
                self.stores.store(shard)
                break
            except Exception as err:  # noqa: BLE001 - rocksdict raises a bare Exception ("IO error: ... lock ...")
                if "lock" not in str(err).lower():
                    raise
                if time.monotonic() > deadline:
                    raise StoreLocked(f"the store of shard {shard} ({self.stores.path(shard)}) is still locked by "
                                      f"another process after {self.lock_timeout:.0f} s: is a worker of another "
                                      "pipeline using this data directory?") from err
                if not waited:
                    log.info("waiting for the last owner of a shard to close its store", extra={"shard": shard})
                    waited = True
                await asyncio.sleep(LOCK_RETRY)
        if waited:
            log.info("shard store taken over", extra={"shard": shard})

    def assigned(self, shards: Iterable[int]) -> None:
        self._revoked.difference_update(shards)

    async def revoked(self, shards: Iterable[int]) -> None:
        """Close the stores of revoked shards, once the command being applied to each is done."""
        shards = set(shards)
        self._revoked |= shards
        await asyncio.gather(*(self._applying[s].wait() for s in shards if s in self._applying))
        for shard in sorted(shards):
            store = self.stores.opened.pop(shard, None)
            if store is not None:
                store.close()
