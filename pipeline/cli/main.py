"""``harper-pipeline``: run the pipeline, submit operations, read jobs."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from .. import codec, config, logs
from ..config import Settings
from ..contract.answers import job_search_view, job_view
from ..contract.errors import HarperError
from ..contract.operations import JOB_OPERATIONS
from ..contract.validate_jobs import validate_search_jobs
from ..jobs import fold as jobs
from ..kafka import topics
from .client import ApiClient

log = logging.getLogger("pipeline.cli")

EMBEDDED_FILE = "embedded-broker.json"


# ---- finding the broker --------------------------------------------------------------
def _resolved(settings: Settings) -> Settings:
    """Settings with a bootstrap address: the configured one, or the running embedded broker's."""
    if settings.bootstrap_servers:
        return settings
    marker = settings.data_dir / EMBEDDED_FILE
    if marker.exists():
        return settings.with_bootstrap(json.loads(marker.read_text())["bootstrap"], embedded=True)
    sys.exit("harper-pipeline: no broker: set KAFKA_BOOTSTRAP_SERVERS, or start the pipeline with "
             "`harper-pipeline up` (it writes the embedded broker's address to "
             f"{marker})")


# ---- running ---------------------------------------------------------------------------
def run_worker(settings: Settings) -> None:
    """Create the topics, then run one Faust worker until it is stopped."""
    import faust

    from ..app import create_app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    created = topics.create_topics_sync(settings)
    if created:
        log.info("topics created", extra={"topics": ",".join(created)})
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, override_logging=False,
                          redirect_stdouts=False)
    worker.execute_from_commandline()


def cmd_up(settings: Settings, args: argparse.Namespace) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not settings.embedded:
        run_worker(settings)
        return
    from ..kafka.broker import EmbeddedBroker

    marker = settings.data_dir / EMBEDDED_FILE
    with EmbeddedBroker(port=args.broker_port, log_dir=settings.data_dir) as broker:
        marker.write_text(json.dumps({"bootstrap": broker.bootstrap, "pid": os.getpid()}))
        log.info("embedded broker started", extra={"bootstrap": broker.bootstrap})
        log.info("operations API", extra={"url": f"http://{settings.http_host}:{settings.http_port}/",
                                          "user": settings.admin_username,
                                          "password_from": "HDB_ADMIN_PASSWORD (default: password)"})
        try:
            run_worker(settings.with_bootstrap(broker.bootstrap, embedded=True))
        finally:
            marker.unlink(missing_ok=True)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> None:
    run_worker(_resolved(settings))


def cmd_topics(settings: Settings, args: argparse.Namespace) -> None:
    created = topics.create_topics_sync(_resolved(settings))
    print(json.dumps({"created": created}))


# ---- submitting and watching ------------------------------------------------------------
def _operation(text: str) -> dict:
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    try:
        op = json.loads(text)
    except json.JSONDecodeError as err:
        sys.exit(f"harper-pipeline: the operation is not valid JSON: {err}")
    if not isinstance(op, dict) or "operation" not in op:
        sys.exit("harper-pipeline: an operation is a JSON object with an 'operation' field")
    return op


class Progress:
    """A one-line progress bar on stderr, drawn from job-status events."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last = ""

    def show(self, record: dict) -> None:
        parsed = record.get("_parsed")
        applied, expected = sum(record.get("_applied") or []), sum(record.get("_expected") or [])
        rows = f"{record.get('_written', 0):,} records written"
        if parsed is not None and expected:
            done = applied / expected
            bar = "#" * int(done * 30)
            line = f"[{bar:<30}] {done:6.1%} {rows} of {parsed:,} parsed"
        else:
            line = f"[{'':<30}] reading... {rows}"
        if line != self.last:
            self.stream.write(("\r" + line) if self.tty else line + "\n")
            self.stream.flush()
            self.last = line

    def close(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")


async def submit(settings: Settings, op: dict, wait: bool, user: str | None) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from ..kafka.bus import Bus

    job_id = str(uuid.uuid4())
    bus = Bus(settings)
    await bus.start()
    consumer = None
    try:
        if wait:
            consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                        enable_auto_commit=False, fetch_max_wait_ms=200)
            await consumer.start()
            parts = [TopicPartition(bus.topic("job-status"), p) for p in await bus.partitions("job-status")]
            consumer.assign(parts)
            await consumer.seek_to_end(*parts)
            for tp in parts:  # pin the starting point before the operation exists
                await consumer.position(tp)
        envelope = {"job_id": job_id, "user": user, "request": op}
        if op.get("operation") in JOB_OPERATIONS:
            await bus.send_avro("job-status", jobs.event(job_id, "CREATED", type=op["operation"], user=user),
                                key=job_id.encode())
        await bus.send_and_wait("operations", codec.dumps(envelope), key=job_id.encode())
        print(job_id, file=sys.stderr if wait else sys.stdout, flush=True)
        if consumer is None:
            return 0
        record: dict[str, Any] | None = None
        progress = Progress()
        while record is None or record["status"] not in jobs.FINAL:
            batches = await consumer.getmany(timeout_ms=1000)
            for messages in batches.values():
                for msg in messages:
                    ev = topics.decode("job-status", msg.value)
                    if ev["job_id"] == job_id:
                        record = jobs.fold(record, ev)[0] or record
                        if record is not None:
                            progress.show(record)
        progress.close()
        print(json.dumps(job_view(record)), flush=True)
        return 1 if record["status"] == jobs.ERROR else 0
    finally:
        if consumer is not None:
            await consumer.stop()
        await bus.stop()


async def read_jobs(settings: Settings):
    from ..kafka.bus import Bus
    from ..kafka.logview import LogView

    bus = Bus(settings)
    await bus.start()
    view = jobs.JobsView()
    jobs_log = LogView(bus, "jobs", view.fold)
    try:
        await jobs_log.start()
        await jobs_log.ready()
    finally:
        await jobs_log.stop()
        await bus.stop()
    return view


# ---- through the Operations API, when it is up -----------------------------------------
def _api(settings: Settings, args: argparse.Namespace) -> ApiClient | None:
    """The API to go through (it authenticates and checks permissions), or None to use Kafka directly."""
    if getattr(args, "kafka", False):
        return None
    client = ApiClient(settings)
    return client if client.is_up() else None


def _answer(status: int, body: Any) -> Any:
    if status != 200:
        print(json.dumps(body), file=sys.stderr)
        sys.exit(1)
    return body


def submit_via_api(api: ApiClient, op: dict, wait: bool) -> int:
    answer = _answer(*api.call(op))
    job_id = answer.get("job_id") if isinstance(answer, dict) else None
    if job_id is None:  # a synchronous operation: its answer is the result
        print(json.dumps(answer))
        return 0
    print(job_id, file=sys.stderr if wait else sys.stdout, flush=True)
    if not wait:
        return 0
    while True:
        found = _answer(*api.call({"operation": "get_job", "id": job_id}))
        if found and found[0]["status"] in jobs.FINAL:
            print(json.dumps(found[0]), flush=True)
            return 1 if found[0]["status"] == jobs.ERROR else 0
        time.sleep(0.25)


def cmd_submit(settings: Settings, args: argparse.Namespace) -> None:
    op = _operation(args.operation)
    api = _api(settings, args)
    if api is not None:
        sys.exit(submit_via_api(api, op, args.wait))
    sys.exit(asyncio.run(submit(_resolved(settings), op, args.wait, args.user)))


def cmd_job(settings: Settings, args: argparse.Namespace) -> None:
    api = _api(settings, args)
    if api is not None:
        print(json.dumps(_answer(*api.call({"operation": "get_job", "id": args.id}))))
        return
    view = asyncio.run(read_jobs(_resolved(settings)))
    record = view.get(args.id)
    print(json.dumps([job_view(record)] if record else []))


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> None:
    api = _api(settings, args)
    if api is not None:
        print(json.dumps(_answer(*api.call({"operation": "search_jobs_by_start_date", "from_date": args.from_date,
                                            "to_date": args.to_date}))))
        return
    start, end = validate_search_jobs({"from_date": args.from_date, "to_date": args.to_date})
    view = asyncio.run(read_jobs(_resolved(settings)))
    print(json.dumps([job_search_view(r) for r in view.started_between(start, end)]))


def cmd_snapshot(settings: Settings, args: argparse.Namespace) -> None:
    from ..shard.snapshot import parse_s3_url

    api = ApiClient(settings)
    if not api.is_up():
        sys.exit(f"harper-pipeline: no Operations API answers on {api.url}: a snapshot is taken by a running worker")
    body: dict = {"operation": "snapshot", **({"name": args.name} if args.name else {})}
    if args.target.startswith("s3://"):
        bucket, prefix = parse_s3_url(args.target)
        body["s3"] = {"bucket": bucket, "key": prefix}  # credentials: the worker's own (environment, IAM role)
    else:
        body["path"] = str(Path(args.target).resolve())
    print(json.dumps(_answer(*api.call(body))))


def cmd_restore(settings: Settings, args: argparse.Namespace) -> None:
    from .. import s3
    from ..shard.snapshot import parse_s3_url, restore, restore_from_s3

    try:
        if args.snapshot.startswith("s3://"):
            shards = restore_from_s3(s3.client({}, settings), args.snapshot, settings.data_dir)
        else:
            shards = restore(Path(args.snapshot), settings.data_dir)
    except FileNotFoundError as err:
        sys.exit(f"harper-pipeline: {err}")
    except s3.S3_ERRORS as err:
        sys.exit(f"harper-pipeline: {s3.error(err, *parse_s3_url(args.snapshot)).message}")
    print(json.dumps({"restored_shards": shards, "data_dir": str(settings.data_dir)}))


def main(argv: list[str] | None = None) -> None:
    settings = config.load()
    parser = argparse.ArgumentParser(prog="harper-pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the whole pipeline (the embedded broker unless KAFKA_BOOTSTRAP_SERVERS)")
    up.add_argument("--broker-port", type=int, default=settings.embedded_port)
    up.set_defaults(func=cmd_up)
    sub.add_parser("worker", help="start one more worker").set_defaults(func=cmd_worker)
    tp = sub.add_parser("topics", help="manage the topics")
    tp.add_argument("action", choices=["create"])
    tp.set_defaults(func=cmd_topics)
    direct = argparse.ArgumentParser(add_help=False)
    direct.add_argument("--kafka", action="store_true",
                        help="use Kafka directly even when the Operations API is up (no credentials are checked)")
    sb = sub.add_parser("submit", parents=[direct], help="send an operation (JSON text or @file.json) through the "
                        "Operations API as HDB_ADMIN_USERNAME, or produce it to Kafka when the API is not up")
    sb.add_argument("operation")
    sb.add_argument("--wait", action="store_true", help="follow the job; print its final record; exit 1 on ERROR")
    sb.add_argument("--user", default=getpass.getuser(), help="recorded as the job's user (Kafka only)")
    sb.set_defaults(func=cmd_submit)
    jb = sub.add_parser("job", parents=[direct], help="show one job")
    jb.add_argument("id")
    jb.set_defaults(func=cmd_job)
    js = sub.add_parser("jobs", parents=[direct], help="jobs started between two ISO-8601 dates")
    js.add_argument("--from", dest="from_date", required=True)
    js.add_argument("--to", dest="to_date", required=True)
    js.set_defaults(func=cmd_jobs)
    sn = sub.add_parser("snapshot", help="checkpoint the shard stores of the worker the API reaches into "
                        "TARGET/NAME (TARGET: a directory, or s3://bucket/prefix)")
    sn.add_argument("target")
    sn.add_argument("--name")
    sn.set_defaults(func=cmd_snapshot)
    rs = sub.add_parser("restore", help="put a snapshot's shard stores (a directory, or s3://bucket/prefix/name) "
                        "into PIPELINE_DATA_DIR (worker stopped)")
    rs.add_argument("snapshot")
    rs.set_defaults(func=cmd_restore)
    args = parser.parse_args(argv)
    logs.setup(settings.log_level)
    try:
        args.func(settings, args)
    except HarperError as err:
        sys.exit(f"harper-pipeline: {err.message}")


if __name__ == "__main__":
    main()
