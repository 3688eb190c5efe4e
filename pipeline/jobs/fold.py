"""The tracker's fold: a job's events into its record, and the completion they imply (pure).

Events of one job share a ``job-status`` partition (keyed by job id), so the
tracker that owns the partition sees them in order. It keeps the job record
(Harper's fields plus the bookkeeping behind them, in fields starting with
``_``) in the compacted ``jobs`` topic, which every worker folds into its
:class:`JobsView` so any worker can answer ``get_job``.

A load is complete when its splitter has said how many commands each shard
was sent (SPLIT_DONE) and every shard has reported applying that many
(BATCH_APPLIED). A shard reports command ``seq`` once per delivery; the
tracker counts a report only when ``seq`` is the next one it expects from
that shard, so a report repeated after a redelivery counts once.

A load's SPLIT_DONE also says where its source's reader ended (rows with
more cells than the header, the text encoding), which the completed job's
``result`` reports when there is something to say.

A load's splitter checkpoints (SPLIT_PROGRESS) every few batches; the record
keeps the latest checkpoint in ``_resume``, so whichever worker is handed the
job's ``operations`` message after its worker died continues from there.

The record also keeps the job's request (``_request``, until the job ends),
so that a job whose message the broker lost (the embedded broker forgets its
log when it stops) can be queued again (REQUEUED, :mod:`pipeline.jobs.recovery`)
from the record alone; and the last few checkpoints (``_checkpoints``), since
after such a loss the commands sent after a checkpoint may be lost too, so the
job carries on from the latest checkpoint whose commands every shard had
applied. A request with credentials is not kept
(:func:`pipeline.jobs.events.kept_request`).
"""
from __future__ import annotations

from typing import Any

from .. import codec
from ..contract.answers import NO_RECORDS_PARSED, deleted_before_message, load_result, loaded_message
from ..contract.operations import DELETE_BEFORE
from ..records import JobEvent
from .events import COMPLETE, FINAL, IN_PROGRESS, event

#: events that begin a record; any other, for a record that is not there, comes late for one that was deleted
_FIRST_EVENTS = frozenset({"CREATED", "STARTED"})
#: checkpoints a record keeps: the splitter runs at most two ahead of what the shards have applied
KEPT_CHECKPOINTS = 3


def completion_message(record: dict[str, Any]) -> tuple[Any, Any]:
    """(message, result) of a job whose every command has been applied."""
    job_type = record.get("type")
    parsed, written = record.get("_parsed", 0), record.get("_written", 0)
    if job_type in DELETE_BEFORE:
        # the shards found the records: their reports add up to the total
        return deleted_before_message(written, record.get("_reported", 0)), None
    result = load_result(record.get("_source"))
    if parsed == 0:
        return NO_RECORDS_PARSED, result
    return loaded_message(written, parsed), result


def fold(record: dict[str, Any] | None, ev: JobEvent) -> tuple[dict[str, Any] | None, JobEvent | None]:
    """Fold one event into a job record. Returns (new record or None if unchanged, a follow-up event to emit)."""
    kind = ev.event
    if record is None:
        if kind not in _FIRST_EVENTS:
            return None, None
        # Harper's record is CREATED for an instant; a client only ever sees IN_PROGRESS (BEHAVIOUR.md)
        record = {"id": ev.job_id, "type": ev.type, "user": ev.user, "status": IN_PROGRESS,
                  "created_datetime": ev.time, "start_datetime": ev.time, "_v": 0}
    elif record["status"] in FINAL:
        return None, None
    record = dict(record)
    record["_v"] = record.get("_v", 0) + 1
    for name in ("type", "user"):
        if getattr(ev, name) and not record.get(name):
            record[name] = getattr(ev, name)
    workers = record.setdefault("_workers", [])
    if ev.worker and ev.worker not in workers and kind in ("STARTED", "RESUMED", "BATCH_APPLIED"):
        record["_workers"] = [*workers, ev.worker]
    if kind in _FIRST_EVENTS and ev.detail and "_request" not in record and "_not_kept" not in record:
        kept = codec.loads(ev.detail)
        if "request" in kept:
            record["_request"] = kept["request"]
        else:
            record["_not_kept"] = kept["not_kept"]
    if kind == "STARTED":
        record["start_datetime"] = ev.time
    elif kind == "SPLIT_PROGRESS":
        checkpoint = codec.loads(ev.detail)
        if checkpoint["batches"] > (record.get("_resume") or {}).get("batches", -1):
            record["_resume"] = checkpoint
            record["_checkpoints"] = [*(record.get("_checkpoints") or []), checkpoint][-KEPT_CHECKPOINTS:]
    elif kind == "REQUEUED":
        checkpoint = codec.loads(ev.detail)["checkpoint"]
        record["_resume"] = checkpoint
        record["_checkpoints"] = [checkpoint] if checkpoint else []
    elif kind == "SPLIT_DONE":
        record["_parsed"] = ev.parsed
        if ev.detail:  # where the source's reader ended: what the job's result says about how it was read
            record["_source"] = codec.loads(ev.detail)
        record["_expected"] = list(ev.shard_commands or [])
        record.setdefault("_applied", [0] * len(record["_expected"]))
    elif kind == "BATCH_APPLIED":
        shard, seq = ev.shard, ev.seq
        applied = list(record.get("_applied") or [])
        if len(applied) <= shard:
            applied += [0] * (shard + 1 - len(applied))
        if seq != applied[shard]:
            return None, None  # a report repeated after a redelivery
        applied[shard] += 1
        record["_applied"] = applied
        record["_written"] = record.get("_written", 0) + ev.written
        record["_reported"] = record.get("_reported", 0) + ev.parsed
    elif kind in ("COMPLETE", "ERROR"):
        record["status"] = ev.status
        record["end_datetime"] = ev.time
        for name in ("_request", "_not_kept", "_checkpoints", "_resume"):  # only a job not ended needs them
            record.pop(name, None)
        record["message"] = codec.loads(ev.message) if ev.message_is_json else ev.message
        if ev.result is not None:
            record["result"] = codec.loads(ev.result)
        return record, None
    expected = record.get("_expected")
    if expected is not None and all_applied(record, expected):
        message, result = completion_message(record)
        return record, event(record["id"], "COMPLETE", COMPLETE, message=message, result=result)
    return record, None


def all_applied(record: dict[str, Any], commands: list[int]) -> bool:
    """Whether every shard has reported applying ``commands[shard]`` of the job's commands."""
    applied = record.get("_applied") or []
    applied = applied + [0] * (len(commands) - len(applied))
    return all(a >= c for a, c in zip(applied, commands))


def safe_checkpoint(record: dict[str, Any]) -> dict[str, Any] | None:
    """The latest checkpoint of a load whose commands every shard has applied (None: start over).

    Where a load can carry on from when the commands it sent after that point may be lost with the broker's log.
    """
    for checkpoint in reversed(record.get("_checkpoints") or []):
        if all_applied(record, checkpoint["commands"]):
            return checkpoint
    return None


def resume_point(checkpoint: dict[str, Any] | None) -> str:
    """Where a taken-over load carries on from, for people."""
    if checkpoint is None:
        return "from the beginning (it had no checkpoint yet; commands already applied are skipped)"
    source = checkpoint["source"]
    where = f"line {source['line'] + 1}" if "line" in source else f"record {source['records'] + 1}"
    return f"from {where} of the source, after {checkpoint['parsed']} records"
