"""The tracker's fold of a job's events, on its own (no broker needed)."""
from __future__ import annotations

from pipeline.jobs.events import event
from pipeline.jobs.fold import fold


def test_a_repeated_batch_report_counts_once():
    record, follow = fold(None, event("j", "CREATED", type="csv_data_load"))
    record, _ = fold(record, event("j", "SPLIT_DONE", parsed=3, shard_commands=[1, 1]))
    record, follow = fold(record, event("j", "BATCH_APPLIED", shard=0, seq=0, parsed=2, written=2))
    assert follow is None
    again, follow = fold(record, event("j", "BATCH_APPLIED", shard=0, seq=0, parsed=2, written=2))
    assert again is None and follow is None  # the redelivered report changes nothing
    record, follow = fold(record, event("j", "BATCH_APPLIED", shard=1, seq=0, parsed=1, written=0))
    assert follow.event == "COMPLETE" and follow.message == "successfully loaded 2 of 3 records"
    final, _ = fold(record, follow)
    assert final["status"] == "COMPLETE" and fold(final, follow) == (None, None)
