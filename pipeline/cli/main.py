"""``harper-pipeline``: run the pipeline, submit operations, read jobs."""
from __future__ import annotations

import argparse
import getpass
import sys

from .. import config, logs
from ..contract.errors import HarperError
from .run import cmd_topics, cmd_up, cmd_worker
from .snapshot import cmd_restore, cmd_snapshot
from .submit import cmd_job, cmd_jobs, cmd_submit


def main(argv: list[str] | None = None) -> None:
    settings = config.load()
    parser = argparse.ArgumentParser(prog="harper-pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the whole pipeline (the embedded broker unless KAFKA_BOOTSTRAP_SERVERS)")
    up.add_argument("--broker-port", type=int, default=settings.embedded_port)
    up.set_defaults(func=cmd_up)
    wk = sub.add_parser("worker", help="start one more worker")
    # how `up` starts its worker processes (pipeline.cli.processes); not for people
    wk.add_argument("--process", type=int, help=argparse.SUPPRESS)
    wk.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    wk.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)
    wk.add_argument("--go-fd", type=int, help=argparse.SUPPRESS)
    wk.add_argument("--listen-when-ready", action="store_true", help=argparse.SUPPRESS)
    wk.set_defaults(func=cmd_worker)
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
    logs.setup(settings.log_level, _process_name(settings, args))
    try:
        args.func(settings, args)
    except HarperError as err:
        sys.exit(f"harper-pipeline: {err.message}")


def _process_name(settings: config.Settings, args: argparse.Namespace) -> str | None:
    """What each line of the log names its process by, when ``up`` runs several (they share its stderr)."""
    if args.command == "worker" and args.process is not None:
        return f"worker-{args.process}"
    if args.command == "up" and settings.worker_processes > 1:
        return "up"
    return None


if __name__ == "__main__":
    main()
