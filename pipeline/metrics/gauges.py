"""Gauges computed when Prometheus scrapes: read from the worker's state then, never kept up to date on the side.

The worker passes callables that read its state (this package imports
nothing of the pipeline): the shards Faust assigned it with their applied
``shard-log`` offsets, the log's end offsets (fetched from the broker just
before the scrape, which is asynchronous and so cannot happen here), the job
records of the jobs view, the RocksDB memory properties, and readiness.
"""
from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


@dataclass(frozen=True)
class WorkerState:
    """How the collector reads the worker's state, at scrape time."""
    #: shard -> the last ``shard-log`` offset its store applied (-1: none), for the shards assigned to this worker
    applied_offsets: Callable[[], Mapping[int, int]]
    #: shard -> the ``shard-log`` partition's end offset, as last fetched
    end_offsets: Callable[[], Mapping[int, int]]
    #: every job record of the jobs view
    job_records: Callable[[], Iterable[Mapping[str, Any]]]
    #: kind -> bytes of RocksDB memory (memtables, table readers, block cache)
    rocksdb_memory: Callable[[], Mapping[str, int]]
    #: whether the worker is ready (see the readiness endpoint)
    ready: Callable[[], bool]


class WorkerCollector(Collector):
    def __init__(self, worker: str, state: WorkerState) -> None:
        self.worker = worker
        self.state = state

    def describe(self) -> list:
        return []  # the families are known only at scrape time; registering must not call collect()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        w, state = self.worker, self.state
        ready = GaugeMetricFamily("harper_pipeline_ready",
                                  "1 once the worker has joined its group and caught up with catalog, auth and jobs.",
                                  labels=["worker"])
        ready.add_metric([w], 1.0 if state.ready() else 0.0)
        yield ready

        applied = GaugeMetricFamily("harper_pipeline_shard_applied_offset",
                                    "The last shard-log offset applied to the shard's store, per assigned shard.",
                                    labels=["worker", "shard"])
        lag = GaugeMetricFamily("harper_pipeline_shard_lag",
                                "Commands in shard-log not yet applied by this worker, per assigned shard.",
                                labels=["worker", "shard"])
        ends = state.end_offsets()
        for shard, offset in sorted(state.applied_offsets().items()):
            applied.add_metric([w, str(shard)], float(offset))
            if shard in ends:
                lag.add_metric([w, str(shard)], float(max(0, ends[shard] - 1 - offset)))
        yield applied
        yield lag

        jobs = GaugeMetricFamily("harper_pipeline_jobs", "Jobs known to the jobs view, by type and status.",
                                 labels=["worker", "type", "status"])
        tally = Tally((str(r.get("type")), str(r.get("status"))) for r in state.job_records())
        for (job_type, status), count in sorted(tally.items()):
            jobs.add_metric([w, job_type, status], float(count))
        yield jobs

        memory = GaugeMetricFamily("harper_pipeline_rocksdb_memory_bytes",
                                   "RocksDB memory of this worker's shard stores, by kind.",
                                   labels=["worker", "kind"])
        for kind, size in sorted(state.rocksdb_memory().items()):
            memory.add_metric([w, kind], float(size))
        yield memory
