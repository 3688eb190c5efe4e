"""``harper-pipeline up``, ``worker`` and ``topics``: running the pipeline, and finding its broker."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from ..config import Settings
from ..kafka import topics

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
        run_worker(settings.with_bootstrap(broker.bootstrap, embedded=True))
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
    run_worker(resolved(settings))


def cmd_topics(settings: Settings, args: argparse.Namespace) -> None:
    created = topics.create_topics_sync(resolved(settings))
    print(json.dumps({"created": created}))
