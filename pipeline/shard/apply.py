"""The shard writer: applies ``shard-log`` commands to the shard stores and reports each to its job.

A worker that is given a shard its store has not followed (a new worker, an
empty or stale data directory) first replays the shard's log from the offset
its store holds up to the command it was given, applying what it finds
without reporting it again (the worker that applied it first did), then
carries on. ``shard-log`` keeps its records forever for this reason.
"""
from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from .. import codec
from ..jobs import fold as jobs
from ..kafka import topics
from ..query import nosql as search
from ..query.gather import matching_rows, stream_rows
from ..runtime import Worker
from .rocksdb import Result

log = logging.getLogger(__name__)


async def apply_command(worker: Worker, shard: int, offset: int, value: bytes) -> None:
    command = topics.decode("shard-log", value)
    store = worker.store(shard)
    if offset > store.offset + 1 and command["kind"] != "EPOCH":
        await replay(worker, shard, store.offset + 1, offset)
    if command["kind"] == "EPOCH":
        _begin_epoch(worker, store, shard, offset, command["payload"].decode())
        return
    if store.already_applied(offset):
        result = store.stored_result(offset)
        if result is None:
            return
    elif command["kind"] == "SCAN":
        spec = codec.loads(command["payload"])
        await stream_rows(worker.bus, command["job_id"], shard,
                          matching_rows(store, spec, search.compile_predicate(spec)), bool(spec.get("count_only")))
        store.skip(offset)
        return
    else:
        result = apply_to_store(store, offset, command)
    if result is None:
        return
    detail = None
    if command.get("reply"):
        detail = codec.dumps([result.written_keys, result.skipped_keys])
    await worker.bus.send_avro("job-status", jobs.event(
        command["job_id"], "BATCH_APPLIED", shard=shard, seq=command["seq"], parsed=result.parsed,
        written=result.written, detail=detail), key=command["job_id"].encode())


async def replay(worker: Worker, shard: int, start: int, end: int) -> None:
    """Apply ``shard-log[start:end)`` of ``shard`` to this worker's store, silently."""
    store = worker.store(shard)
    tp = TopicPartition(worker.bus.topic("shard-log"), shard)
    consumer = AIOKafkaConsumer(bootstrap_servers=worker.settings.bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    log.info("replaying a shard this worker has not followed", extra={"shard": shard, "from": start, "to": end})
    applied = 0
    try:
        consumer.assign([tp])
        consumer.seek(tp, start)
        while await consumer.position(tp) < end:
            for msg in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                if msg.offset >= end:
                    break
                if applied == 0 and msg.offset > start:
                    # the log no longer holds what this store lacks: its records are incomplete
                    log.error("shard-log was truncated before this shard could be replayed; restore the shard "
                              "from a snapshot", extra={"shard": shard, "wanted": start, "first": msg.offset})
                _apply_silently(worker, store, shard, msg.offset, topics.decode("shard-log", msg.value))
                applied += 1
    finally:
        await consumer.stop()
    log.info("shard replayed", extra={"shard": shard, "commands": applied})


def _apply_silently(worker: Worker, store, shard: int, offset: int, command: dict) -> None:
    kind = command["kind"]
    if kind == "EPOCH":
        _begin_epoch(worker, store, shard, offset, command["payload"].decode())
    elif kind == "SCAN":
        store.skip(offset)  # whoever asked for that scan has its answer
    elif not store.already_applied(offset):
        apply_to_store(store, offset, command)


def _begin_epoch(worker: Worker, store, shard: int, offset: int, epoch: str) -> None:
    if store.epoch == epoch:
        return  # the marker delivered again
    previous = store.offset
    if store.begin_epoch(offset, epoch):
        # The broker lost its log (the embedded broker keeps it in memory) or the topic was recreated.
        # The records are kept and the stored offsets start again; with a broker that should have kept its
        # log, that is worth an operator's attention.
        level = logging.INFO if worker.settings.embedded_profile else logging.ERROR
        log.log(level, "a new shard-log: the shard keeps its records and counts offsets from the new log",
                extra={"shard": shard, "previous_offset": previous, "epoch": epoch})


def apply_to_store(store, offset: int, command: dict) -> Result | None:
    kind = command["kind"]
    database, table = command["database"], command["table"]
    if kind in ("WRITE_BATCH", "DELETE_KEYS"):
        job = (command["job_id"], command["seq"])
        if command["seq"] < store.next_seq(command["job_id"]):
            store.skip(offset)  # re-sent by a resumed load; the first copy was applied and reported
            return None
        if kind == "DELETE_KEYS":
            return store.delete_keys(offset, database, table, codec.loads(command["payload"]), job=job)
        return store.write_batch(offset, database, table, command["primary_key"], command["action"],
                                 codec.loads(command["payload"]), command["txn_time"],
                                 keep_keys=bool(command.get("reply")), job=job)
    if kind == "DELETE_BEFORE":
        return store.delete_before(offset, database, table, command["before"])
    if kind == "DROP_TABLE":
        store.drop_table(offset, database, table)
        return None
    log.warning("unknown shard command", extra={"kind": kind, "job_id": command["job_id"]})
    store.skip(offset)
    return None
