"""The shard writer: applies ``shard-log`` commands to the shard stores and reports each to its job
(a load's, a delete's) or its requester (a synchronous write's).

Each command is applied in the one RocksDB write that also records its
offset (:mod:`pipeline.shard.rocksdb`), so a command delivered again is
recognised and its stored result reported again: the job hears about it
once more, and counts it once. A shard the store has not followed is first
brought up to date from its log (:mod:`pipeline.shard.recovery`).
"""
from __future__ import annotations

import time

from .. import codec
from ..jobs.events import emit, event
from ..kafka.bus import Bus
from ..metrics import Metrics
from ..query.predicate import compile_predicate
from ..records import ShardCommand, ShardReply
from .apply import apply_to_store
from .recovery import begin_epoch, replay
from .scan import matching_rows, stream_rows
from .stores import ShardStores


class ShardWriter:
    """Applies the commands of the shards Faust assigns to this worker (the ``shard_writer`` agent)."""

    def __init__(self, bus: Bus, stores: ShardStores, embedded: bool, metrics: Metrics) -> None:
        """``embedded``: the broker is the embedded one, which forgets its log by design."""
        self.bus = bus
        self.stores = stores
        self.embedded = embedded
        self.metrics = metrics

    async def apply_command(self, shard: int, offset: int, value: bytes) -> None:
        command = ShardCommand.decode(value)
        store = self.stores.store(shard)
        if offset > store.offset + 1 and command.kind != "EPOCH":
            await replay(self.bus, store, shard, store.offset + 1, offset, self.embedded)
        if command.kind == "EPOCH":
            begin_epoch(store, shard, offset, command.payload.decode(), self.embedded)
            return
        if store.already_applied(offset):
            result = store.stored_result(offset)
            if result is None:
                return
        elif command.kind == "SCAN":
            spec = codec.loads(command.payload)
            await stream_rows(self.bus, command.job_id, shard,
                              matching_rows(store, spec, compile_predicate(spec)), bool(spec.get("count_only")),
                              command.reply_partition)
            store.skip(offset)
            return
        else:
            started = time.perf_counter()
            result = apply_to_store(store, offset, command)
            self.metrics.applied(command.kind, time.perf_counter() - started)
            if result is not None:
                self.metrics.rows_written(command.kind, result.written)
        if result is None:
            return
        if command.reply:  # a synchronous write: its requester waits for the keys
            await self.bus.send_record(ShardReply(command.job_id, shard, "APPLIED", command.seq,
                                                  codec.dumps([result.written_keys, result.skipped_keys]),
                                                  result.written), key=command.job_id.encode(),
                                      partition=command.reply_partition)
            return
        await emit(self.bus, event(command.job_id, "BATCH_APPLIED", shard=shard, seq=command.seq,
                                   parsed=result.parsed, written=result.written))
