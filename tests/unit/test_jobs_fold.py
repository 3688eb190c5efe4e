"""The tracker's fold of a job's events, on its own (no broker needed)."""
from __future__ import annotations

from pipeline.jobs.events import event, split_done
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


def test_a_load_whose_source_had_something_to_say_completes_with_a_result():
    record, _ = fold(None, event("j", "CREATED", type="csv_file_load"))
    source = {"offset": 9, "line": 830, "ragged": 12, "ragged_lines": list(range(4, 14)), "encoding": "cp1252"}
    record, _ = fold(record, split_done("j", 830, [1], source))
    record, follow = fold(record, event("j", "BATCH_APPLIED", shard=0, seq=0, parsed=830, written=830))
    assert follow.message == "successfully loaded 830 of 830 records"  # Harper's message, word for word
    final, _ = fold(record, follow)
    assert final["result"] == {"rows_with_extra_cells": 12, "first_lines_with_extra_cells": list(range(4, 14)),
                               "encoding": "cp1252"}
    plain, _ = fold(None, event("k", "CREATED", type="csv_file_load"))
    plain, _ = fold(plain, split_done("k", 1, [1], {"offset": 9, "line": 2, "ragged": 0, "encoding": "utf-8"}))
    plain, follow = fold(plain, event("k", "BATCH_APPLIED", shard=0, seq=0, parsed=1, written=1))
    assert fold(plain, follow)[0].get("result") is None  # nothing to say: Harper's record
