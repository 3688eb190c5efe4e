"""A job that waits on a slow source holds up no job behind it on its partition; one whose download fails in a
way nothing expected ends in ERROR; and the partition's committed offset never passes a job that has not ended,
so a worker killed meanwhile leaves nothing IN_PROGRESS."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from harness import HeldSource, WorkerProcess, read_everything, wait_until
from pipeline.kafka.broker import free_port

ROWS = 2000
BODY = ("id,name\n" + "".join(f"{i},dog {i}\n" for i in range(ROWS))).encode()
#: Faust commits acked offsets every 2.8 s (broker_commit_interval)
COMMIT_INTERVAL = 2.8


@pytest.fixture
def source():
    """``/held.csv`` sends its first line and is held; ``/to-bad-host`` redirects to a URL whose port does not parse."""
    held = HeldSource(BODY, BODY.index(b"\n") + 1, redirects={"/to-bad-host": "http://%5B::ffff:169.254.169.254%5D/x"})
    yield held
    held.close()


def committed_offset(settings) -> int:
    """The consumer group's committed offset of the one ``operations`` partition (0 before any commit)."""
    async def read() -> int:
        # in the group, but never subscribed: it only asks the coordinator, and takes no partition
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=settings.app_id,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            return await consumer.committed(TopicPartition(settings.topic_prefix + "operations", 0)) or 0
        finally:
            await consumer.stop()
    return asyncio.run(read())


def offset_of(settings, job_id: str) -> int:
    """Where the job's message is in the one ``operations`` partition."""
    values = read_everything(settings, "operations")
    return next(i for i, value in enumerate(values) if json.loads(value)["job_id"] == job_id)


def test_a_slow_job_holds_no_one_back_and_is_never_committed_before_it_ends(settings, tmp_path, source):
    server = source.url
    settings = dataclasses.replace(settings, operations_partitions=1, url_idle_timeout=120)
    first = WorkerProcess(settings, tmp_path / "first.log").start()
    second = None
    try:
        client = first.client
        client.ok({"operation": "create_table", "database": "slow", "table": "dog", "primary_key": "id"})
        before = client.run_job({"operation": "csv_data_load", "database": "slow", "table": "dog",
                                 "data": "id,name\n-1,before\n"})
        slow = client.ok({"operation": "csv_url_load", "database": "slow", "table": "dog",
                          "csv_url": f"{server}/held.csv"})["job_id"]
        assert source.stalled.acquire(timeout=60)

        broken = client.run_job({"operation": "csv_url_load", "database": "slow", "table": "dog",
                                 "csv_url": f"{server}/to-bad-host"}, timeout=60)
        assert broken["status"] == "ERROR", broken
        assert broken["message"].startswith("CSV Load failed from URL: http://%5B::ffff:169.254.169.254%5D/x, "
                                            "the URL is not valid: Port could not be cast"), broken
        after = client.run_job({"operation": "csv_data_load", "database": "slow", "table": "dog",
                                "data": "id,name\n-2,after\n"}, timeout=60)
        assert after["message"] == "successfully loaded 1 of 1 records"
        assert client.ok({"operation": "get_job", "id": slow})[0]["status"] == "IN_PROGRESS"

        # the jobs before the slow one are committed; the ones after it, although done, are not
        slow_at = offset_of(settings, slow)
        assert slow_at == offset_of(settings, before["id"]) + 1
        wait_until(lambda: committed_offset(settings) >= slow_at, "commit of the jobs before the slow one", 30)
        deadline = time.monotonic() + 2 * COMMIT_INTERVAL
        while time.monotonic() < deadline:  # observing that something does not happen: a commit past the job
            assert committed_offset(settings) == slow_at
            time.sleep(0.5)

        # so the worker that is given the partition after a crash runs the slow job again, to its end
        first.kill()
        source.release.set()
        second = WorkerProcess(dataclasses.replace(settings, data_dir=tmp_path / "second", http_port=free_port()),
                               tmp_path / "second.log").start()
        job = second.client.job(slow, timeout=120)
        assert job["message"] == f"successfully loaded {ROWS} of {ROWS} records", job
    finally:
        source.release.set()
        first.kill()
        if second is not None:
            second.stop()
