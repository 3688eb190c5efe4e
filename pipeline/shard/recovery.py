"""Recovery of a shard store: replaying the part of its ``shard-log`` it has not applied, and log epochs.

A worker that is given a shard its store has not followed (a new worker, an
empty or stale data directory) first replays the shard's log from the offset
its store holds up to the command it was given, applying what it finds
without reporting it again (the worker that applied it first did), then
carries on. ``shard-log`` keeps its records forever for this reason.

Every partition of a new ``shard-log`` begins with an EPOCH command naming
the log: a store kept across a broker that lost its log (the embedded one
keeps it in memory) notices the new log, keeps its records and counts
offsets from the new log.
"""
from __future__ import annotations

import logging

from ..kafka.bus import Bus
from ..kafka.consumers import assigned_consumer
from ..records import ShardCommand
from .apply import apply_to_store
from .store import Store

log = logging.getLogger(__name__)


async def replay(bus: Bus, store: Store, shard: int, start: int, end: int, embedded: bool) -> None:
    """Apply ``shard-log[start:end)`` of ``shard`` to its store, silently."""
    consumer, (tp,) = await assigned_consumer(bus, ShardCommand.TOPIC, start, [shard], auto_offset_reset="earliest")
    log.info("replaying a shard this worker has not followed", extra={"shard": shard, "from": start, "to": end})
    applied = 0
    try:
        while await consumer.position(tp) < end:
            for msg in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                if msg.offset >= end:
                    break
                if applied == 0 and msg.offset > start:
                    # the log no longer holds what this store lacks: its records are incomplete
                    log.error("shard-log was truncated before this shard could be replayed; restore the shard "
                              "from a snapshot", extra={"shard": shard, "wanted": start, "first": msg.offset})
                _apply_silently(store, shard, msg.offset, ShardCommand.decode(msg.value), embedded)
                applied += 1
    finally:
        await consumer.stop()
    log.info("shard replayed", extra={"shard": shard, "commands": applied})


def _apply_silently(store: Store, shard: int, offset: int, command: ShardCommand, embedded: bool) -> None:
    kind = command.kind
    if kind == "EPOCH":
        begin_epoch(store, shard, offset, command.payload.decode(), embedded)
    elif kind == "SCAN":
        store.skip(offset)  # whoever asked for that scan has its answer
    elif not store.already_applied(offset):
        apply_to_store(store, offset, command)


def begin_epoch(store: Store, shard: int, offset: int, epoch: str, embedded: bool) -> None:
    """``embedded``: the broker is the embedded one, which forgets its log by design."""
    if store.epoch == epoch:
        return  # the marker delivered again
    previous = store.offset
    if store.begin_epoch(offset, epoch):
        # The broker lost its log (the embedded broker keeps it in memory) or the topic was recreated.
        # The records are kept and the stored offsets start again; with a broker that should have kept its
        # log, that is worth an operator's attention.
        level = logging.INFO if embedded else logging.ERROR
        log.log(level, "a new shard-log: the shard keeps its records and counts offsets from the new log",
                extra={"shard": shard, "previous_offset": previous, "epoch": epoch})
