"""``harper-pipeline submit``, ``job`` and ``jobs``: operations through the Operations API, or Kafka directly."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from .. import codec
from ..config import Settings
from ..contract.answers import job_search_view, job_view
from ..contract.operations import JOB_OPERATIONS
from ..contract.validate_jobs import validate_search_jobs
from ..jobs.events import ERROR, FINAL, emit, event
from ..jobs.fold import fold
from ..jobs.view import JobsView
from ..records import JobEvent
from .client import ApiClient, api_for, ok_or_exit
from .run import resolved


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
    from ..kafka.bus import Bus
    from ..kafka.consumers import assigned_consumer

    job_id = str(uuid.uuid4())
    bus = Bus(settings)
    await bus.start()
    consumer = None
    try:
        if wait:
            # the starting point is pinned before the operation exists
            consumer, _ = await assigned_consumer(bus, JobEvent.TOPIC, "end", fetch_max_wait_ms=200)
        envelope = {"job_id": job_id, "user": user, "request": op}
        if op.get("operation") in JOB_OPERATIONS:
            await emit(bus, event(job_id, "CREATED", type=op["operation"], user=user))
        await bus.send_and_wait("operations", codec.dumps(envelope), key=job_id.encode())
        print(job_id, file=sys.stderr if wait else sys.stdout, flush=True)
        if consumer is None:
            return 0
        record: dict[str, Any] | None = None
        progress = Progress()
        while record is None or record["status"] not in FINAL:
            batches = await consumer.getmany(timeout_ms=1000)
            for messages in batches.values():
                for msg in messages:
                    ev = JobEvent.decode(msg.value)
                    if ev.job_id == job_id:
                        record = fold(record, ev)[0] or record
                        if record is not None:
                            progress.show(record)
        progress.close()
        print(json.dumps(job_view(record)), flush=True)
        return 1 if record["status"] == ERROR else 0
    finally:
        if consumer is not None:
            await consumer.stop()
        await bus.stop()


async def read_jobs(settings: Settings):
    from ..kafka.bus import Bus
    from ..kafka.logview import LogView

    bus = Bus(settings)
    await bus.start()
    view = JobsView()
    jobs_log = LogView(bus, "jobs", view.fold)
    try:
        await jobs_log.start()
        await jobs_log.ready()
    finally:
        await jobs_log.stop()
        await bus.stop()
    return view


def submit_via_api(api: ApiClient, op: dict, wait: bool) -> int:
    answer = ok_or_exit(*api.call(op))
    job_id = answer.get("job_id") if isinstance(answer, dict) else None
    if job_id is None:  # a synchronous operation: its answer is the result
        print(json.dumps(answer))
        return 0
    print(job_id, file=sys.stderr if wait else sys.stdout, flush=True)
    if not wait:
        return 0
    while True:
        found = ok_or_exit(*api.call({"operation": "get_job", "id": job_id}))
        if found and found[0]["status"] in FINAL:
            print(json.dumps(found[0]), flush=True)
            return 1 if found[0]["status"] == ERROR else 0
        time.sleep(0.25)


def cmd_submit(settings: Settings, args: argparse.Namespace) -> None:
    op = _operation(args.operation)
    api = api_for(settings, args)
    if api is not None:
        sys.exit(submit_via_api(api, op, args.wait))
    sys.exit(asyncio.run(submit(resolved(settings), op, args.wait, args.user)))


def cmd_job(settings: Settings, args: argparse.Namespace) -> None:
    api = api_for(settings, args)
    if api is not None:
        print(json.dumps(ok_or_exit(*api.call({"operation": "get_job", "id": args.id}))))
        return
    view = asyncio.run(read_jobs(resolved(settings)))
    record = view.get(args.id)
    print(json.dumps([job_view(record)] if record else []))


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> None:
    api = api_for(settings, args)
    if api is not None:
        print(json.dumps(ok_or_exit(*api.call({"operation": "search_jobs_by_start_date", "from_date": args.from_date,
                                            "to_date": args.to_date}))))
        return
    start, end = validate_search_jobs({"from_date": args.from_date, "to_date": args.to_date})
    view = asyncio.run(read_jobs(resolved(settings)))
    print(json.dumps([job_search_view(r) for r in view.started_between(start, end)]))
