"""A worker whose job slots are all taken keeps taking every message of its topics: its jobs end.

Faust fetches all of a worker's topics in one loop, which waits while an agent's buffer is full. The intake
used to wait for a job slot; with its buffer full, the shard writer's and the tracker's messages waited too,
and the job in the slot (a load waiting for its shards, an export for its scans) waited for them for ever:
it and every job behind it on the worker stayed IN_PROGRESS, those behind with only their CREATED event.
Faust stops fetching a partition whose agent's buffer is full, but what one fetch brought still goes in: a
burst produced at once (or the backlog a worker fetches after a rebalance) is more than the buffer holds.
Here one slot holds a load whose source stalls while such a burst of exports arrives; then the source goes
on."""
from __future__ import annotations

import asyncio
import dataclasses
import uuid

from harness import FINAL_KINDS, HELD_ROWS, HeldSource, WorkerProcess, final_events, logs_on_failure
from pipeline import codec
from pipeline.kafka.bus import Bus

EXPORTS = 80  # more than the intake's buffer (64) and the messages the runner keeps before it pauses


async def burst(settings, ops: list[dict]) -> set[str]:
    """Produce operations at once, as a Kafka user does (our envelope, keyed by a job id of the user's)."""
    bus = Bus(settings)
    await bus.start()
    try:
        ids = [str(uuid.uuid4()) for _ in ops]
        for job_id, op in zip(ids, ops):
            await bus.send("operations", codec.dumps({"job_id": job_id, "user": "admin", "request": op}),
                           key=job_id.encode())
        await bus.flush()
        return set(ids)
    finally:
        await bus.stop()


def test_jobs_sent_while_the_only_slot_waits_all_end(settings, tmp_path):
    settings = dataclasses.replace(settings, jobs_per_worker=1, batch_size=200, checkpoint_batches=2)
    worker = WorkerProcess(settings, tmp_path / "worker.log", env={"PIPELINE_JOBS_PER_WORKER": "1"}).start()
    source = HeldSource()
    try:
        with logs_on_failure([worker]):
            client = worker.client
            client.ok({"operation": "create_table", "database": "burst", "table": "dog", "primary_key": "id"})
            client.ok({"operation": "create_table", "database": "burst", "table": "held", "primary_key": "n"})
            client.ok({"operation": "insert", "database": "burst", "table": "dog",
                       "records": [{"id": i, "name": f"dog {i}"} for i in range(50)]})
            load = client.ok({"operation": "csv_url_load", "database": "burst", "table": "held",
                              "csv_url": f"{source.url}/dogs.csv"})["job_id"]
            assert source.stalled.acquire(timeout=60)  # the load holds the only slot, its source stalled
            op = {"operation": "export_local", "format": "json", "path": str(tmp_path), "filename": "dogs",
                  "search_operation": {"operation": "search_by_value", "database": "burst", "table": "dog",
                                       "search_attribute": "id", "search_value": "*"}}
            ids = asyncio.run(burst(settings, [{**op, "filename": f"dogs{n}"} for n in range(EXPORTS)]))
            source.release.set()  # the load goes on: it needs the shard writer and the tracker now
            kinds = final_events(settings, ids | {load}, timeout=90)
            stuck = {job_id: seen for job_id, seen in kinds.items() if not set(seen) & FINAL_KINDS}
            assert not stuck, f"{len(stuck)} of {len(kinds)} jobs never ended: {sorted(map(tuple, stuck.values()))}"
            assert all("COMPLETE" in seen for seen in kinds.values()), kinds
            assert client.ok({"operation": "sql", "sql": "SELECT COUNT(*) AS n FROM burst.held"}) == [
                {"n": HELD_ROWS}]
            assert "operations is not fetched for now" in worker.log_text()  # the runner paused, and went on
    finally:
        source.close()
        worker.stop()
