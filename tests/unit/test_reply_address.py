"""Where a shard's replies go: the partition a requester names in its commands, and commands written before the
field existed (no broker needed; the flow through `up`'s processes is in tests/integration/test_processes.py)."""
from __future__ import annotations

import io
import json

import fastavro
import pytest

from pipeline import schemas
from pipeline.kafka.replies import reply_partition
from pipeline.records import ShardCommand


def written_with(fields_dropped: int, record: dict) -> bytes:
    """``record`` as a worker wrote it when shard-log's schema lacked its last ``fields_dropped`` fields."""
    schema = json.loads(schemas._text("shard-log.avsc"))
    schema["fields"] = schema["fields"][:-fields_dropped]
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), record)
    return buffer.getvalue()


def test_a_command_names_the_partition_its_replies_go_to():
    command = ShardCommand("SCAN", "scan-1", "db", "t", payload=b"{}", reply_partition=3)
    assert ShardCommand.decode(command.encode()) == command


def test_a_command_written_before_the_reply_partition_existed_still_decodes_and_replies_by_its_id():
    old = {"kind": "WRITE_BATCH", "job_id": "write-1", "seq": 4, "database": "db", "table": "t",
           "primary_key": "id", "action": "insert", "txn_time": 5.0, "payload": b"[]", "before": None,
           "reply": "keys"}
    command = ShardCommand.decode(written_with(1, old))
    assert command == ShardCommand(**old) and command.reply_partition is None
    # and one from before the reply itself: every field it did not have takes its default
    older = {k: v for k, v in old.items() if k != "reply"}
    assert ShardCommand.decode(written_with(2, older)) == ShardCommand(**older)


def test_bytes_that_are_no_command_are_not_taken_for_an_old_one():
    cut = ShardCommand("SCAN", "scan-1", "db", "t", payload=b"{}", reply_partition=3).encode()[:5]
    with pytest.raises(EOFError):
        ShardCommand.decode(cut)


@pytest.mark.parametrize("partitions", [1, 2, 4, 7])
def test_the_processes_of_one_machine_read_apart_while_there_are_partitions_enough(partitions):
    for host in ("worker-a", "worker-b.example", ""):
        chosen = [reply_partition(index, partitions, host) for index in range(partitions)]
        assert sorted(chosen) == list(range(partitions))
        # a process started again keeps its index, and so its partition
        assert chosen == [reply_partition(index, partitions, host) for index in range(partitions)]
    # more processes than partitions share them, in turn
    assert reply_partition(partitions, partitions, "h") == reply_partition(0, partitions, "h")
