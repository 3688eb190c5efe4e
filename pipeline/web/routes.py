"""The worker's HTTP endpoints beside the Operations API, registered on the API's aiohttp application.

- ``GET /health``: Harper's answer, exactly (Harper's own tests call it), without authentication;
- ``GET /health/ready``: readiness (:mod:`pipeline.web.readiness`), 503 with a JSON reason until ready;
- ``GET /metrics``: Prometheus' text format (:mod:`pipeline.web.scrape`), without authentication: it carries
  no secret (see :mod:`pipeline.metrics.instruments` on labels);
- ``GET /jobs``: the jobs page, behind the API's Basic authentication; its files are package data
  (``static/``), served as they are: no build step, nothing fetched from elsewhere;
- ``GET /jobs/list``: the jobs the page lists (:mod:`pipeline.web.feed`), as JSON;
- ``GET /jobs/events``: the same jobs as server-sent events: a ``snapshot`` first, then a ``job`` event each
  time one of them changes in the worker's jobs view (which follows ``job-status`` through the tracker).
"""
from __future__ import annotations

import asyncio
import contextlib
from importlib import resources
from typing import Awaitable, Callable, Iterable

from aiohttp import web

from .. import codec
from ..auth.directory import Principal
from ..jobs.events import now_ms
from ..runtime import Worker
from .feed import page_job, recent, visible
from .readiness import Readiness
from .scrape import Scrape

HARPER_HEALTH = "HarperDB is running."
#: what answers before the worker is ready, and without authentication
OPEN = frozenset({"/health", "/health/ready", "/metrics"})
#: the page's files: name -> content type
STATIC = {"jobs.html": "text/html", "jobs.js": "text/javascript", "jobs.css": "text/css",
          "favicon.svg": "image/svg+xml"}
#: seconds between comments on an idle event stream (proxies close silent connections)
KEEPALIVE = 15.0
#: seconds an event stream waits after sending, so a busy job updates a page a few times a second, not per batch
COALESCE = 0.2
#: what a browser is told when it has no credentials: ask the user (the API's POST / answers Harper's 401 body)
CHALLENGE = {"WWW-Authenticate": 'Basic realm="harper-pipeline", charset="UTF-8"'}

Authenticate = Callable[[web.Request], Awaitable[Principal | None]]


class Console:
    def __init__(self, worker: Worker, authenticate: Authenticate) -> None:
        self.worker = worker
        self.authenticate = authenticate
        self.readiness = Readiness(worker.ready)
        self._shards: frozenset[int] = frozenset()
        self.scrape = Scrape(worker, lambda: self._shards, lambda: self.readiness.ready)
        self._closing = asyncio.Event()

    # ---- what the Faust app tells it ------------------------------------------------
    def assigned(self, shard_partitions: Iterable[int]) -> None:
        """Faust assigned this worker its partitions; ``shard_partitions``: those of ``shard-log``."""
        self._shards = frozenset(shard_partitions)
        self.readiness.assigned()

    def revoked(self) -> None:
        self.readiness.rebalancing = True

    def add_routes(self, app: web.Application) -> None:
        app.middlewares.append(self._until_ready)
        app.router.add_get("/health", self.health)
        app.router.add_get("/health/ready", self.ready)
        app.router.add_get("/metrics", self.scrape.handle)
        app.router.add_get("/jobs", self.page)
        app.router.add_get("/jobs/list", self.jobs_list)
        app.router.add_get("/jobs/events", self.jobs_events)
        app.router.add_get("/jobs/static/{name}", self.static)
        app.on_shutdown.append(self._shutdown)

    @web.middleware
    async def _until_ready(self, request: web.Request, handler) -> web.StreamResponse:
        """Until the worker has caught up with its views, only health, readiness and metrics answer: the API
        listens from the start, so a probe gets readiness's reason instead of a refused connection (of `up`'s
        processes, on their own ports: the shared port only once ready, see Settings.listen_when_ready)."""
        if request.path in OPEN or self.worker.ready.is_set():
            return await handler(request)
        return web.Response(body=codec.dumps({"error": "The worker is starting; try again shortly."}), status=503,
                            content_type="application/json", headers={"Retry-After": "1"})

    async def _shutdown(self, app: web.Application) -> None:
        """The API stops: end the event streams (aiohttp would wait for them before it stops)."""
        self._closing.set()

    async def stop(self) -> None:
        await self.scrape.stop()

    # ---- open endpoints -------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text=HARPER_HEALTH, content_type="text/plain", charset="utf-8")

    async def ready(self, request: web.Request) -> web.Response:
        status, body = self.readiness.answer()
        return web.Response(body=codec.dumps(body), status=status, content_type="application/json")

    # ---- the jobs page --------------------------------------------------------------
    async def _principal(self, request: web.Request) -> Principal:
        principal = await self.authenticate(request)
        if principal is None:
            raise web.HTTPUnauthorized(headers=CHALLENGE, text="Login failed")
        return principal

    async def page(self, request: web.Request) -> web.Response:
        await self._principal(request)
        return _file("jobs.html")

    async def static(self, request: web.Request) -> web.Response:
        await self._principal(request)
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        return _file(name)

    async def jobs_list(self, request: web.Request) -> web.Response:
        principal = await self._principal(request)
        jobs = recent(principal, self.worker.jobs.records.values(), now_ms())
        return web.Response(body=codec.dumps({"jobs": jobs, "now": now_ms()}), content_type="application/json",
                            headers={"Cache-Control": "no-store"})

    async def jobs_events(self, request: web.Request) -> web.StreamResponse:
        principal = await self._principal(request)
        view = self.worker.jobs
        changed: set[str] = set()
        wake = asyncio.Event()

        def note(job_id: str) -> None:
            changed.add(job_id)
            wake.set()

        unwatch = view.watch(note)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        try:
            await response.prepare(request)
            snapshot = {"jobs": recent(principal, view.records.values(), now_ms()), "now": now_ms()}
            await response.write(_event("snapshot", snapshot))
            closing = asyncio.ensure_future(self._closing.wait())
            try:
                while not self._closing.is_set():
                    waking = asyncio.ensure_future(wake.wait())
                    done, _ = await asyncio.wait({waking, closing}, timeout=KEEPALIVE,
                                                 return_when=asyncio.FIRST_COMPLETED)
                    waking.cancel()
                    if closing in done:
                        break
                    if not done:
                        await response.write(b": keepalive\n\n")
                        continue
                    wake.clear()
                    ids, changed = set(changed), set()
                    for job_id in ids:
                        record = view.get(job_id)
                        if record is not None and visible(principal, record):
                            await response.write(_event("job", {**page_job(record), "now": now_ms()}))
                    await asyncio.sleep(COALESCE)
            finally:
                closing.cancel()
        except ConnectionResetError:
            pass  # the browser went away
        finally:
            unwatch()
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
        return response


def _event(name: str, data: object) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + codec.dumps(data) + b"\n\n"


def _file(name: str) -> web.Response:
    body = resources.files(__package__).joinpath("static", name).read_bytes()
    return web.Response(body=body, content_type=STATIC[name], charset="utf-8",
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
                                 "Content-Security-Policy": "default-src 'self'; connect-src 'self'"})
