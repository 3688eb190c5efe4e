"""The Faust application: the worker process, its consumer group and its three agents.

- ``intake`` consumes ``operations`` and runs each job's first stage (the splitter);
- ``shard_writer`` consumes ``shard-log`` and applies commands to the shard stores;
- ``tracker`` consumes ``job-status`` and keeps each job's record in the ``jobs`` topic.

Faust assigns the partitions of all three among the workers that share the
application id; the HTTP API runs in every worker beside them.
"""
from __future__ import annotations

import logging

import faust

from .api import Api
from .config import Settings
from .jobs.events import emit
from .jobs.fold import fold
from .ops.dispatch import Operations
from .records import JobEvent
from .runtime import Worker
from .shard.writer import ShardWriter
from .web import Console

log = logging.getLogger(__name__)

#: loads running at once in one worker (each holds one partial command per shard)
INTAKE_CONCURRENCY = 4


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=settings.broker_url,
        store="memory://",
        datadir=str(settings.data_dir / "faust"),
        web_enabled=False,
        autodiscover=False,
        consumer_auto_offset_reset="earliest",
        broker_rebalance_timeout=settings.rebalance_timeout,
        broker_session_timeout=max(settings.rebalance_timeout * 2, 6.0),
        broker_heartbeat_interval=1.0,
        stream_buffer_maxsize=64,
        # An export's intake waits for the shards' scans; if a rebalance waited for that intake to finish, and
        # the shards waited for the rebalance, neither would move. Redelivery after a rebalance is harmless:
        # a re-run split is deduplicated per (job, shard, seq) and an export file is replaced atomically.
        stream_wait_empty=False,
        producer_acks=-1,
        logging_config=None,
    )
    worker = Worker(settings)
    operations = Operations(worker)
    writer = ShardWriter(worker.bus, worker.stores, settings.embedded_profile, worker.metrics)
    api = Api(operations, worker.directory, settings)
    console = Console(worker, api.principal_of)
    api.extensions.append(console.add_routes)
    shard_log = worker.bus.topic("shard-log")

    def source(name: str) -> faust.TopicT:
        return app.topic(settings.topic_prefix + name, key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw")

    @app.task
    async def start_worker() -> None:
        await api.start()  # operations wait for the worker (503) but /health and readiness answer at once
        await worker.start()

    @app.on_before_shutdown.connect
    async def stop_worker(app: faust.App, **kwargs) -> None:
        await api.stop()
        await console.stop()
        await worker.stop()

    @app.on_partitions_assigned.connect
    async def on_assigned(app: faust.App, assigned: set, **kwargs) -> None:
        console.assigned(tp.partition for tp in assigned if tp.topic == shard_log)

    @app.on_partitions_revoked.connect
    async def on_revoked(app: faust.App, revoked: set, **kwargs) -> None:
        console.revoked()

    @app.agent(source("operations"), concurrency=INTAKE_CONCURRENCY)
    async def intake(stream):
        await worker.ready.wait()
        async for event in stream.events():
            message = event.message
            await operations.intake.handle(message.key, message.value, message.partition, message.offset,
                                           message.timestamp)

    @app.agent(source("shard-log"))
    async def shard_writer(stream):
        await worker.ready.wait()
        async for event in stream.events():
            message = event.message
            await writer.apply_command(message.partition, message.offset, message.value)

    @app.agent(source("job-status"))
    async def tracker(stream):
        await worker.ready.wait()
        async for event in stream.events():
            await track(worker, JobEvent.decode(event.message.value))

    return app


async def track(worker: Worker, ev: JobEvent) -> None:
    """Fold one job event; publish the completion it implies."""
    record, follow = fold(worker.jobs.get(ev.job_id), ev)
    if follow is not None:
        record, _ = fold(record, follow)
        await emit(worker.bus, follow)
    if record is not None:
        await worker.jobs_log.put(ev.job_id, record, wait=False)
