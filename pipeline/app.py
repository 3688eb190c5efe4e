"""The Faust application: the worker process, its consumer group and its three agents.

- ``intake`` consumes ``operations`` and starts each job's first stage (the splitter) in the runner
  (:mod:`pipeline.ops.runner`), which acks its message once the job has ended;
- ``shard_writer`` consumes ``shard-log`` and applies commands to the shard stores;
- ``tracker`` consumes ``job-status`` and keeps each job's record in the ``jobs`` topic.

Faust assigns the partitions of all three among the workers that share the
application id; the HTTP API runs in every worker beside them.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

import faust

from . import heap
from .api import Api
from .config import Settings
from .handover import ShardHandover
from .jobs.events import emit
from .jobs.fold import fold
from .jobs.recovery import recover
from .ops.dispatch import Operations
from .ops.runner import JobRunner
from .ops.unstarted import UnstartedJobs
from .records import JobEvent
from .runtime import Worker
from .shard.writer import ShardWriter
from .threads import DaemonExecutor
from .web import Console

log = logging.getLogger(__name__)

#: checks for unstarted jobs per PIPELINE_JOB_START_TIMEOUT: one found waits between the timeout and a quarter more
UNSTARTED_CHECKS = 4


def create_app(settings: Settings, on_ready: Callable[[], None] | None = None) -> faust.App:
    """``on_ready``: called once the worker has caught up with its views and queued again what a broker that lost
    its log had lost (``up`` starts its other processes then, so that only this one writes the views back)."""
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
        # An export waits for the shards' scans; if a rebalance waited for that job to finish, and the shards
        # waited for the rebalance, neither would move. So a running job's message is delivered again after
        # a rebalance: the runner (pipeline.ops.runner) makes that one run, here or on the partition's new owner.
        stream_wait_empty=False,
        producer_acks=-1,
        logging_config=None,
    )
    worker = Worker(settings)
    operations = Operations(worker)
    writer = ShardWriter(worker.bus, worker.stores, settings.embedded_profile, worker.metrics)
    handover = ShardHandover(worker.stores)
    operations_topic = worker.bus.topic("operations")

    def pause_operations(paused: bool) -> None:
        # As Faust pauses a partition whose agent's buffer is full: what was fetched before still comes (Faust's
        # pause_partitions skips the rest of a batch already fetched, and the consumer's position is past it)
        for tp in app.consumer.assignment():
            if tp.topic == operations_topic:
                (app.consumer.on_buffer_full if paused else app.consumer.on_buffer_drop)(tp)

    runner = JobRunner(operations.intake, settings.jobs_per_worker,
                       UnstartedJobs(worker.jobs, settings.job_start_timeout), pause_operations)
    api = Api(operations, worker.directory, settings, worker.auth_log.catch_up)
    console = Console(worker, api.principal_of)
    api.extensions.append(console.add_routes)
    shard_log = worker.bus.topic("shard-log")

    def source(name: str) -> faust.TopicT:
        return app.topic(settings.topic_prefix + name, key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw")

    @app.task
    async def start_worker() -> None:
        asyncio.get_running_loop().set_default_executor(DaemonExecutor())  # see pipeline.threads
        await api.start()  # operations wait for the worker (503) but /health and readiness answer at once
        await worker.start()
        await recover(worker.bus, worker.jobs, worker.jobs_log)
        await api.share()  # with Settings.listen_when_ready, requests come to this process from now on
        if on_ready is not None:
            on_ready()

    @app.timer(heap.TRIM_INTERVAL)
    async def trim_heap() -> None:
        heap.trim()

    @app.timer(settings.job_start_timeout / UNSTARTED_CHECKS)
    async def requeue_unhanded() -> None:
        if worker.ready.is_set():
            await runner.requeue_unhanded(time.monotonic())
        else:  # the intake takes no message before the worker is ready
            runner.unstarted.reset()

    @app.on_partitions_assigned.connect
    async def assigned(app: faust.App, assigned: set, **kwargs) -> None:
        runner.assigned({tp.partition for tp in assigned if tp.topic == operations_topic})
        shards = {tp.partition for tp in assigned if tp.topic == shard_log}
        handover.assigned(shards)
        console.assigned(shards)

    @app.on_before_shutdown.connect
    async def stop_worker(app: faust.App, **kwargs) -> None:
        # Jobs first, whatever they are doing: they resume on the workers that get their partitions. Then
        # the agents, so nothing uses the producer or a shard store when the worker closes them.
        await api.stop()
        await console.stop()
        await runner.stop()
        await operations.loads.close()
        for agent in (intake, shard_writer, tracker):
            await agent.stop()
        await worker.stop()

    @app.on_partitions_revoked.connect
    async def on_revoked(app: faust.App, revoked: set, **kwargs) -> None:
        runner.revoked()
        console.revoked()
        await handover.revoked(tp.partition for tp in revoked if tp.topic == shard_log)

    @app.agent(source("operations"))
    async def intake(stream):
        """Hands each message to the runner, which acks it once its job has ended (see :mod:`pipeline.ops.runner`)."""
        await worker.ready.wait()
        async for event in stream.noack().events():
            await runner.deliver(event)

    @app.agent(source("shard-log"))
    async def shard_writer(stream):
        await worker.ready.wait()
        async for event in stream.events():
            message = event.message
            async with handover.applying(message.partition) as owned:
                if owned:
                    await writer.apply_command(message.partition, message.offset, message.value)

    @app.agent(source("job-status"))
    async def tracker(stream):
        await worker.ready.wait()
        async for event in stream.events():
            await track(worker, JobEvent.decode(event.message.value))

    app.before_commit = worker.bus.flush  # type: ignore[attr-defined]  # see pipeline.kafka.transport
    return app


async def track(worker: Worker, ev: JobEvent) -> None:
    """Fold one job event; publish the completion it implies."""
    record, follow = fold(worker.jobs.get(ev.job_id), ev)
    if follow is not None:
        record, _ = fold(record, follow)
        await emit(worker.bus, follow)
    if record is not None:
        await worker.jobs_log.put(ev.job_id, record, wait=False)
