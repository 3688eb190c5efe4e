"""The tracker's fold of a job's events, on its own (no broker needed); what a record keeps to run a job again
after the broker lost its message, and what it never keeps."""
from __future__ import annotations

from pipeline import codec
from pipeline.jobs.events import COMPLETE, ERROR, IN_PROGRESS, event, kept_request, split_done
from pipeline.jobs.fold import fold, safe_checkpoint


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


def created(op: dict) -> dict:
    return fold(None, event("j", "CREATED", type=op["operation"], user="u",
                                      detail=codec.dumps(kept_request(op))))[0]


def test_a_record_keeps_its_request_until_the_job_ends_but_never_credentials():
    op = {"operation": "csv_url_load", "database": "d", "table": "t", "csv_url": "http://host/x.csv"}
    record = created(op)
    assert record["_request"] == op
    ended, _ = fold(record, event("j", "COMPLETE", COMPLETE, message="done"))
    assert "_request" not in ended and "_checkpoints" not in ended
    for secret, why in [({"passthrough_headers": {"Authorization": "Bearer t0ken"}}, "passthrough_headers"),
                        ({"csv_url": "http://alice:pa55@host/x.csv"}, "URL held credentials"),
                        ({"operation": "import_from_s3", "s3": {"aws_access_key_id": "AKIA", "aws_secret_access_key":
                                                                 "s3cret", "bucket": "b", "key": "k.csv"}}, "S3")]:
        record = created({**op, **secret})
        assert "_request" not in record and why in record["_not_kept"]
        assert not any(word in codec.dumps(record).decode() for word in ("t0ken", "pa55", "AKIA", "s3cret"))
    large = created({"operation": "csv_data_load", "database": "d", "table": "t", "data": "x" * 100_000})
    assert "_request" not in large and "larger than" in large["_not_kept"]


def progress(record: dict, batches: int, commands: list[int]) -> dict:
    checkpoint = {"parsed": batches * 10, "commands": commands, "last_key": 0, "batches": batches,
                  "source": {"offset": batches, "line": batches * 10, "header": ["a"], "delimiter": ","}}
    return fold(record, event("j", "SPLIT_PROGRESS", detail=codec.dumps(checkpoint)))[0]


def applied(record: dict, shard: int, seq: int) -> dict:
    return fold(record, event("j", "BATCH_APPLIED", shard=shard, seq=seq, parsed=10, written=10))[0]


def test_a_load_queued_again_carries_on_from_the_latest_checkpoint_every_shard_had_applied():
    record = created({"operation": "csv_file_load", "database": "d", "table": "t", "file_path": "/x.csv"})
    record = fold(record, event("j", "STARTED", type="csv_file_load"))[0]
    assert safe_checkpoint(record) is None  # no checkpoint yet: from the beginning
    for batches, commands in ((1, [1, 1]), (2, [2, 1]), (3, [3, 2]), (4, [4, 3])):
        record = progress(record, batches, commands)
    record = applied(applied(applied(record, 0, 0), 1, 0), 0, 1)
    assert [c["batches"] for c in record["_checkpoints"]] == [2, 3, 4]  # the last few only
    assert record["_resume"]["batches"] == 4  # a worker taking the job over from a log that kept its commands
    assert safe_checkpoint(record)["batches"] == 2  # after the log was lost: shards applied [2, 1]
    requeued = fold(record, event("j", "REQUEUED", detail=codec.dumps(
        {"checkpoint": safe_checkpoint(record)})))[0]
    assert requeued["_resume"]["batches"] == 2 and requeued["status"] == IN_PROGRESS
    # the load carries on from there: its new checkpoints are taken although earlier ones went further
    assert progress(requeued, 3, [3, 2])["_resume"]["batches"] == 3


def test_a_late_event_does_not_bring_back_a_record_that_was_deleted():
    """Only CREATED and STARTED begin a record: a report repeated after a redelivery, or a completion, that comes
    after the record was deleted does not make a new one (kept forever)."""
    for late in (event("w", "BATCH_APPLIED", shard=0, seq=0, parsed=1, written=1),
                 event("w", "COMPLETE", COMPLETE), event("w", "ERROR", ERROR, message="late")):
        assert fold(None, late) == (None, None)


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
