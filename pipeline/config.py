"""Every setting of the pipeline, read from the environment in this one place.

Each setting has a sane default for the embedded profile (one machine, Tansu
started by the CLI); production sets ``KAFKA_BOOTSTRAP_SERVERS`` and whatever
else differs.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path


#: the largest message the pipeline produces (its producer's request limit, and ``max.message.bytes`` of the
#: topics that carry large messages); a shard command or a batch of scan rows holds at most
#: ``max_record_bytes``, which is kept to half of it, leaving room for the envelope
MAX_MESSAGE_BYTES = 16 * 1024 ** 2


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _paths(value: str) -> tuple[Path, ...]:
    return tuple(Path(p).expanduser().resolve() for p in value.split(os.pathsep) if p)


@dataclass(frozen=True)
class Settings:
    #: ``host:port[,host:port]``; empty means "start the embedded broker".
    bootstrap_servers: str = ""
    #: Faust application id: workers with the same id share the work.
    app_id: str = "harper-pipeline"
    #: Prepended to every topic name (lets several pipelines share a cluster).
    topic_prefix: str = ""
    #: Where shard stores and local state live.
    data_dir: Path = Path("var")
    #: Partitions of ``shard-log``: the ceiling on write parallelism.
    shard_partitions: int = 16
    #: Partitions of ``operations`` and ``job-status``.
    operations_partitions: int = 4
    replication_factor: int = 1
    #: Rows per WriteBatch command sent to one shard.
    batch_size: int = 1000
    #: The largest record a load or a write accepts (a CSV record's bytes, a record's JSON); a shard command
    #: holds at most this many bytes of records, so it must stay below the broker's message limit.
    max_record_bytes: int = 8 * 1024 ** 2
    #: The most attributes a table may have: a load or write that would add more is refused.
    max_attributes: int = 50_000
    #: The largest request body the Operations API reads; a csv_data_load's data is streamed, never held whole.
    max_body_bytes: int = 1024 ** 3
    #: The largest body of an operation other than csv_data_load, which is parsed in memory.
    max_json_body_bytes: int = 16 * 1024 ** 2
    #: Source batches between a load's checkpoints: where a resumed load starts again, and how far the
    #: splitter may run ahead of the shard writers (at most two checkpoints' worth of commands unapplied).
    checkpoint_batches: int = 50
    #: Jobs one worker runs at once (a load holds up to one partial command per shard in memory).
    jobs_per_worker: int = 4
    #: Seconds a job accepted but not started may wait, while the worker that owns its ``operations`` partition
    #: takes every message and is not handed it, before that worker queues it again (pipeline.ops.unstarted).
    job_start_timeout: float = 30.0
    #: Directories that csv_file_load may read and export_local may write.
    allowed_dirs: tuple[Path, ...] = field(default_factory=tuple)
    http_host: str = "127.0.0.1"
    http_port: int = 9925
    admin_username: str = "admin"
    admin_password: str = field(default="password", repr=False)
    log_level: str = "info"
    #: Seconds the broker may hold a consumer group join (Tansu holds it all).
    rebalance_timeout: float = 3.0
    #: Networks csv_url_load may fetch from although they are loopback/private/link-local.
    url_allowed_networks: tuple[str, ...] = ()
    url_connect_timeout: float = 10.0
    #: Seconds without a byte from the server before a download fails.
    url_idle_timeout: float = 30.0
    url_max_bytes: int = 10 * 1024 ** 3
    #: An S3-compatible endpoint (MinIO...); empty: AWS. An operation's ``s3.endpoint_url`` wins.
    s3_endpoint_url: str = ""
    #: Bytes per part of an export's multipart upload (S3's minimum is 5 MiB).
    s3_part_bytes: int = 8 * 1024 ** 2

    #: Memory of SQL's final stage (DuckDB) before it spills to disk.
    duckdb_memory: str = "48MB"
    #: The port ``harper-pipeline up`` starts the embedded broker on.
    embedded_port: int = 9092

    #: Worker processes ``harper-pipeline up`` runs on this machine, in one consumer group (1: the worker runs
    #: in ``up``'s own process).
    worker_processes: int = 1
    #: With several processes: process N also listens on this port + N (same host), so that each can be scraped
    #: (``/metrics``) and probed on its own; 0: only the shared port.
    process_ports_from: int = 0
    #: Parse processes of each worker process, shared by its loads: a load's job reads its CSV and they parse,
    #: type, encode and route its rows, on another core (0: in a thread of the worker, the same way).
    parse_processes: int = 1

    #: Set when the broker is the embedded one (it forgets its log when it stops).
    embedded_profile: bool = False
    #: Where the shard stores live when not under ``data_dir``: the processes of one ``up`` share one directory
    #: of stores, each opening the stores of the shards it is assigned (see :mod:`pipeline.cli.processes`).
    shards_dir: Path | None = None
    #: A listening socket inherited from ``up`` that the Operations API accepts on, instead of binding its port.
    listen_fd: int | None = None
    #: Accept on ``listen_fd`` only once this worker is ready. ``up`` sets it for every process but the one
    #: serving first: a process that joins or is started again then never answers a request with "starting"
    #: while a sibling could have answered it (each request goes to whichever process accepts it).
    listen_when_ready: bool = False
    #: The port of this process alone (one of ``up``'s processes, with ``process_ports_from``).
    own_port: int | None = None
    #: Whether this worker keeps a local copy of the views (:mod:`pipeline.kafka.localstate`); of ``up``'s
    #: processes only process 0 does: its copy is the one written back to a broker that lost its log.
    views_copy: bool = True
    #: Which of ``up``'s worker processes this is (0 for a worker on its own): it reads the replies to its
    #: requests on a partition of ``export-results`` apart from its siblings' (:mod:`pipeline.kafka.replies`).
    process_index: int = 0

    @property
    def embedded(self) -> bool:
        return not self.bootstrap_servers

    @property
    def broker_url(self) -> str:
        """Faust's broker URL: the ``hpkafka`` transport (:mod:`pipeline.kafka.transport`) on these servers."""
        return ";".join(f"hpkafka://{s.strip()}" for s in self.bootstrap_servers.split(",") if s.strip())

    @property
    def shard_stores_dir(self) -> Path:
        return self.shards_dir or self.data_dir / "shards"

    def with_bootstrap(self, servers: str, embedded: bool = False) -> "Settings":
        return replace(self, bootstrap_servers=servers, embedded_profile=embedded)

    def for_process(self, index: int, listen_fd: int | None, listen_when_ready: bool = False) -> "Settings":
        """The settings of worker process ``index`` of ``up``: the shard stores shared by all of them, the
        rest (the views' local copy, spooled bodies, an export's spill, Faust's files) its own. Process 0 keeps
        ``data_dir`` itself, so one process and several find the same data (the views' copy is what an embedded
        broker's restart is recovered from, see :mod:`pipeline.kafka.localstate`)."""
        own = self.data_dir if index == 0 else self.data_dir / "workers" / str(index)
        return replace(self, data_dir=own, shards_dir=self.shard_stores_dir, listen_fd=listen_fd,
                       listen_when_ready=listen_when_ready,
                       own_port=self.process_ports_from + index if self.process_ports_from else None,
                       views_copy=index == 0, process_index=index)


def load() -> Settings:
    """Read the settings from the environment."""
    default_dirs = os.pathsep.join([os.getcwd(), tempfile.gettempdir()])
    return Settings(
        bootstrap_servers=_env("KAFKA_BOOTSTRAP_SERVERS", ""),
        app_id=_env("PIPELINE_APP_ID", "harper-pipeline"),
        topic_prefix=os.environ.get("PIPELINE_TOPIC_PREFIX", ""),
        data_dir=Path(_env("PIPELINE_DATA_DIR", "var")).expanduser().resolve(),
        shard_partitions=int(_env("PIPELINE_SHARD_PARTITIONS", "16")),
        operations_partitions=int(_env("PIPELINE_OPERATIONS_PARTITIONS", "4")),
        replication_factor=int(_env("PIPELINE_REPLICATION_FACTOR", "1")),
        batch_size=int(_env("PIPELINE_BATCH_SIZE", "1000")),
        max_record_bytes=min(MAX_MESSAGE_BYTES // 2, int(_env("PIPELINE_MAX_RECORD_BYTES", str(8 * 1024 ** 2)))),
        max_attributes=int(_env("PIPELINE_MAX_ATTRIBUTES", "50000")),
        max_body_bytes=int(_env("PIPELINE_MAX_BODY_BYTES", str(1024 ** 3))),
        max_json_body_bytes=int(_env("PIPELINE_MAX_JSON_BODY_BYTES", str(16 * 1024 ** 2))),
        checkpoint_batches=max(1, int(_env("PIPELINE_CHECKPOINT_BATCHES", "50"))),
        jobs_per_worker=max(1, int(_env("PIPELINE_JOBS_PER_WORKER", "4"))),
        job_start_timeout=max(1.0, float(_env("PIPELINE_JOB_START_TIMEOUT", "30"))),
        allowed_dirs=_paths(_env("PIPELINE_ALLOWED_DIRS", default_dirs)),
        http_host=_env("PIPELINE_HTTP_HOST", "127.0.0.1"),
        http_port=int(_env("PIPELINE_HTTP_PORT", "9925")),
        admin_username=_env("HDB_ADMIN_USERNAME", "admin"),
        admin_password=_env("HDB_ADMIN_PASSWORD", "password"),
        log_level=_env("PIPELINE_LOG_LEVEL", "info").lower(),
        rebalance_timeout=float(_env("PIPELINE_REBALANCE_TIMEOUT", "3")),
        # the embedded profile runs on the user's own machine: its loopback is the user's to load from
        url_allowed_networks=tuple(n.strip() for n in _env(
            "PIPELINE_URL_ALLOWED_NETWORKS", "" if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") else "127.0.0.0/8,::1/128",
        ).split(",") if n.strip()),
        url_connect_timeout=float(_env("PIPELINE_URL_CONNECT_TIMEOUT", "10")),
        url_idle_timeout=float(_env("PIPELINE_URL_IDLE_TIMEOUT", "30")),
        url_max_bytes=int(_env("PIPELINE_URL_MAX_BYTES", str(10 * 1024 ** 3))),
        s3_endpoint_url=_env("PIPELINE_S3_ENDPOINT_URL", ""),
        duckdb_memory=_env("PIPELINE_DUCKDB_MEMORY", "48MB"),
        embedded_port=int(_env("PIPELINE_EMBEDDED_PORT", "9092")),
        worker_processes=max(1, int(_env("PIPELINE_WORKER_PROCESSES", str(os.cpu_count() or 1)))),
        process_ports_from=int(_env("PIPELINE_PROCESS_PORTS_FROM", "0")),
        parse_processes=max(0, int(_env("PIPELINE_PARSE_PROCESSES", "1"))),
        s3_part_bytes=max(5 * 1024 ** 2, int(_env("PIPELINE_S3_PART_BYTES", str(8 * 1024 ** 2)))),
    )
