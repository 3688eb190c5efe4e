"""The shard writer: applies ``shard-log`` commands to the shard stores and reports each to its job."""
from __future__ import annotations

import logging

from . import codec, jobs, search, topics
from .scan import matching_rows, stream_rows
from .store.shard import Result
from .worker import Worker

log = logging.getLogger(__name__)


async def apply_command(worker: Worker, shard: int, offset: int, value: bytes) -> None:
    command = topics.decode("shard-log", value)
    store = worker.store(shard)
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
        result = _apply(store, offset, command)
    if result is None:
        return
    detail = None
    if command.get("reply"):
        detail = codec.dumps([result.written_keys, result.skipped_keys])
    await worker.bus.send_avro("job-status", jobs.event(
        command["job_id"], "BATCH_APPLIED", shard=shard, seq=command["seq"], parsed=result.parsed,
        written=result.written, detail=detail), key=command["job_id"].encode())


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


def _apply(store, offset: int, command: dict) -> Result | None:
    kind = command["kind"]
    database, table = command["database"], command["table"]
    if kind == "WRITE_BATCH":
        return store.write_batch(offset, database, table, command["primary_key"], command["action"],
                                 codec.loads(command["payload"]), command["txn_time"],
                                 keep_keys=bool(command.get("reply")))
    if kind == "DELETE_KEYS":
        return store.delete_keys(offset, database, table, codec.loads(command["payload"]))
    if kind == "DELETE_BEFORE":
        return store.delete_before(offset, database, table, command["before"])
    if kind == "DROP_TABLE":
        store.drop_table(offset, database, table)
        return None
    log.warning("unknown shard command", extra={"kind": kind, "job_id": command["job_id"]})
    store.skip(offset)
    return None
