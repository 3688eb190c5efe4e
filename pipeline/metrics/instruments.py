"""One registry per worker and the counters and histograms the work updates where it happens.

Every series carries the ``worker`` label (the name job events carry:
``host:pid``) so the series of scaled-out workers stay apart even when
Prometheus scrapes them through one address. The other labels are bounded
sets chosen so that no label can carry a secret or grow without limit:
operation names (Harper's fixed set), shard command kinds, export formats. No
URL, user name, table name, file path or job id is ever a label value: a
table name is chosen by users (unbounded, and a name can be telling), a job
id is new for every job.
"""
from __future__ import annotations

from typing import Iterable, Iterator, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram

T = TypeVar("T")

#: seconds: one shard command applied (a RocksDB write of up to a batch of rows) takes ~1-50 ms
APPLY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: seconds: a load's splitter waits at a checkpoint only when the shard writers fall behind
WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: rows counted before a counter is updated from an export's row stream (a counter's lock per row is slow)
COUNT_EVERY = 1000


class Metrics:
    """The instruments of one worker, each already bound to its ``worker`` label."""

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self.registry = CollectorRegistry()
        r = self.registry
        self._rows_parsed = Counter(
            "harper_pipeline_rows_parsed", "Records read from a load's source and handed to the splitter.",
            ["worker", "operation"], registry=r)
        self._bytes_read = Counter(
            "harper_pipeline_source_bytes", "Bytes of a load's source read (CSV sources: the reader's offset).",
            ["worker", "operation"], registry=r)
        self._rows_written = Counter(
            "harper_pipeline_rows_written",
            "Rows the shard writers wrote (inserted, updated, upserted or deleted) by command kind.",
            ["worker", "command"], registry=r)
        self._rows_exported = Counter(
            "harper_pipeline_rows_exported", "Rows an export wrote to its sink.",
            ["worker", "operation", "format"], registry=r)
        self._apply_seconds = Histogram(
            "harper_pipeline_batch_apply_seconds", "Seconds to apply one shard command to its RocksDB store.",
            ["worker", "command"], buckets=APPLY_BUCKETS, registry=r)
        self._replies_read = Counter(
            "harper_pipeline_replies_read",
            "Messages this worker fetched from its partition of export-results: awaited by one of its requests "
            "(yes), or not (no: a reply to another worker sharing the partition, or to a request already ended).",
            ["worker", "awaited"], registry=r)
        self._checkpoint_wait = Histogram(
            "harper_pipeline_checkpoint_wait_seconds",
            "Seconds a load's splitter waited at a checkpoint for the shard writers (backpressure).",
            ["worker"], buckets=WAIT_BUCKETS, registry=r).labels(worker)

    def rows_parsed(self, operation: str, rows: int) -> None:
        self._rows_parsed.labels(self.worker, operation).inc(rows)

    def bytes_read(self, operation: str, count: int) -> None:
        if count > 0:
            self._bytes_read.labels(self.worker, operation).inc(count)

    def rows_written(self, command: str, rows: int) -> None:
        self._rows_written.labels(self.worker, command).inc(rows)

    def applied(self, command: str, seconds: float) -> None:
        self._apply_seconds.labels(self.worker, command).observe(seconds)

    def reply_read(self, awaited: bool) -> None:
        self._replies_read.labels(self.worker, "yes" if awaited else "no").inc()

    def checkpoint_waited(self, seconds: float) -> None:
        self._checkpoint_wait.observe(seconds)

    def exported_counter(self, operation: str, fmt: str) -> Counter:
        return self._rows_exported.labels(self.worker, operation, fmt)


def counted(rows: Iterable[T], counter: Counter) -> Iterator[T]:
    """``rows``, unchanged, adding how many went by to ``counter`` every :data:`COUNT_EVERY` rows and at the end
    (also when the consumer stops early: what was written is counted)."""
    pending = 0
    try:
        for row in rows:
            yield row
            pending += 1
            if pending == COUNT_EVERY:
                counter.inc(pending)
                pending = 0
    finally:
        if pending:
            counter.inc(pending)
