"""``make scale-demo``: three workers on one embedded broker; one load; which worker wrote which shard.

Starts Tansu and three ``harper-pipeline worker`` processes (one consumer
group, a data directory and an API port each), loads a seeded 200,000-row CSV
through the first worker's API, then reads the job's events on ``job-status``
and prints, per shard, the worker that applied its batches.
"""
from __future__ import annotations

import asyncio
import collections
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
from run import Api  # noqa: E402
from pipeline import config  # noqa: E402
from pipeline.records import JobEvent  # noqa: E402
from pipeline.kafka.broker import EmbeddedBroker, free_port  # noqa: E402

WORKERS = 3
ROWS = 200_000


async def batch_writers(settings: config.Settings, job_id: str) -> dict[int, collections.Counter]:
    """shard -> {worker: batches applied}, from the job's BATCH_APPLIED events."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(settings.topic_prefix + "job-status", p)
                 for p in range(settings.operations_partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        writers: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for msg in messages:
                    ev = JobEvent.decode(msg.value)
                    if ev.job_id == job_id and ev.event == "BATCH_APPLIED":
                        writers[ev.shard][ev.worker] += 1
        return writers
    finally:
        await consumer.stop()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hp-scale-") as tmp, EmbeddedBroker() as broker:
        work = Path(tmp)
        source = generate.write(ROWS, work / "rows.csv")
        settings = config.load().with_bootstrap(broker.bootstrap)
        ports = [free_port() for _ in range(WORKERS)]
        processes = []
        for i, port in enumerate(ports):
            env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "PIPELINE_HTTP_PORT": str(port),
                   "PIPELINE_DATA_DIR": str(work / f"worker-{i}"), "PIPELINE_ALLOWED_DIRS": str(work),
                   "PIPELINE_LOG_LEVEL": "warning"}
            processes.append(subprocess.Popen([sys.executable, "-m", "pipeline", "worker"], env=env,
                                              stdout=subprocess.DEVNULL, stderr=open(work / f"worker-{i}.log", "wb")))
            Api(port).wait_up()
            print(f"worker {i}: API on http://127.0.0.1:{port}/, data in {work / f'worker-{i}'}")
        try:
            api = Api(ports[0])
            api.ok({"operation": "create_table", "database": "demo", "table": "rows", "primary_key": "id"})
            record, seconds = api.job({"operation": "csv_file_load", "database": "demo", "table": "rows",
                                       "file_path": str(source)})
            print(f"\n{record['message']} in {seconds:.1f} s\n")
            writers = asyncio.run(batch_writers(settings, record["id"]))
            print("shard  worker (batches applied)")
            for shard in sorted(writers):
                print(f"{shard:>5}  " + ", ".join(f"{w} ({n})" for w, n in writers[shard].most_common()))
            print(f"\n{len({w for c in writers.values() for w in c})} workers wrote the shards of this load")
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(30)


if __name__ == "__main__":
    main()
