"""``harper-pipeline up``, ``worker`` and ``topics``: running the pipeline, and finding its broker."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from typing import Callable

from ..config import Settings
from ..kafka import topics
from .processes import StartFailed, Supervisor, signal_ready, wait_turn

log = logging.getLogger("pipeline.cli")

EMBEDDED_FILE = "embedded-broker.json"


def resolved(settings: Settings) -> Settings:
    """Settings with a bootstrap address: the configured one, or the running embedded broker's."""
    if settings.bootstrap_servers:
        return settings
    marker = settings.data_dir / EMBEDDED_FILE
    if marker.exists():
        return settings.with_bootstrap(json.loads(marker.read_text())["bootstrap"], embedded=True)
    sys.exit("harper-pipeline: no broker: set KAFKA_BOOTSTRAP_SERVERS, or start the pipeline with "
             "`harper-pipeline up` (it writes the embedded broker's address to "
             f"{marker})")


def run_worker(settings: Settings, on_ready: Callable[[], None] | None = None,
               wait_turn: Callable[[], None] | None = None) -> None:
    """Create the topics, then run one Faust worker until it is stopped. ``wait_turn``: called once the modules
    are imported (the slow part of a start), before the worker touches the broker."""
    import faust

    from ..app import create_app

    if wait_turn is not None:
        wait_turn()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    created = topics.create_topics_sync(settings)
    if created:
        log.info("topics created", extra={"topics": ",".join(created)})
    app = create_app(settings, on_ready)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, override_logging=False,
                          redirect_stdouts=False)
    worker.execute_from_commandline()


def run_workers(settings: Settings) -> None:
    """The worker processes of ``up``: this one, or several it supervises (:mod:`pipeline.cli.processes`)."""
    if settings.worker_processes == 1:
        run_worker(settings)
        return
    try:
        Supervisor(settings).run()
    except StartFailed as err:
        sys.exit(f"harper-pipeline: {err}")


def cmd_up(settings: Settings, args: argparse.Namespace) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not settings.embedded:
        run_workers(settings)
        return
    from ..kafka.broker import EmbeddedBroker

    marker = settings.data_dir / EMBEDDED_FILE
    try:
        _stop_stale_broker(marker)
        broker = EmbeddedBroker(port=args.broker_port, log_dir=settings.data_dir).start()
    except RuntimeError as err:
        sys.exit(f"harper-pipeline: {err}")
    try:
        marker.write_text(json.dumps({"bootstrap": broker.bootstrap, "pid": os.getpid(), "broker_pid": broker.pid}))
        log.info("embedded broker started", extra={"bootstrap": broker.bootstrap})
        log.info("operations API", extra={"url": f"http://{settings.http_host}:{settings.http_port}/",
                                          "user": settings.admin_username,
                                          "password_from": "HDB_ADMIN_PASSWORD (default: password)"})
        run_workers(settings.with_bootstrap(broker.bootstrap, embedded=True))
    finally:
        marker.unlink(missing_ok=True)
        broker.stop()


def _stop_stale_broker(marker: Path) -> None:
    """The marker of a run that did not stop in order (killed): its broker may still run and hold its port."""
    from ..kafka.broker import find, stop_stale

    if not marker.exists():
        return
    earlier = json.loads(marker.read_text())
    port = int(earlier["bootstrap"].rsplit(":", 1)[1])
    pid = earlier.get("broker_pid") or find(port)
    if pid and stop_stale(pid, port):
        log.info("stopped the embedded broker an earlier run left behind", extra={"pid": pid, "port": port})


def cmd_worker(settings: Settings, args: argparse.Namespace) -> None:
    settings = resolved(settings)
    if args.process is None:
        run_worker(settings)
        return
    # one of the processes of `up`
    ready_fd, go_fd = args.ready_fd, args.go_fd
    run_worker(settings.for_process(args.process, args.listen_fd, args.listen_when_ready),
               (lambda: signal_ready(ready_fd)) if ready_fd is not None else None,
               (lambda: wait_turn(go_fd)) if go_fd is not None else None)


def cmd_topics(settings: Settings, args: argparse.Namespace) -> None:
    created = topics.create_topics_sync(resolved(settings))
    print(json.dumps({"created": created}))
