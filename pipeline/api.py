"""Harper's Operations API over HTTP: ``POST /`` with Basic auth, in every worker.

Bodies are read within limits (:mod:`pipeline.request_body`): a large one is
spooled to the worker's data directory, never held in memory whole. A body
is JSON, or MessagePack or CBOR by its Content-Type, and the answer is
written in what ``Accept`` asks for (:mod:`pipeline.media`); as Harper, an
``Accept`` the API cannot answer is a 406 before anything else is looked at.
Only JSON bodies are parsed from the spool: the bulk path (csv_data_load) is
JSON, and a MessagePack or CBOR body is held whole, up to
PIPELINE_MAX_JSON_BODY_BYTES.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import socket
from typing import Any, Awaitable, Callable

from aiohttp import web

from . import media, request_body
from .auth.directory import Directory, Principal
from .config import Settings
from .contract.answers import json_body_too_large
from .contract.errors import INVALID_JSON, HarperError
from .contract.permissions import LOGIN_FAILED
from .ops.dispatch import Operations
from .ops.rowstream import RowStream

log = logging.getLogger(__name__)
#: a CSV answer comes as a download, as Harper sends it
_CSV_HEADERS = {"Content-Disposition": 'attachment; filename="data.csv"'}

#: seconds a stopping worker gives requests in progress
STOP_TIMEOUT = 2.0


def _answer(body: Any, kind: str, status: int = 200) -> web.Response:
    """``body`` written as ``kind`` (a media type :func:`pipeline.media.negotiate` chose)."""
    headers = {"Content-Type": media.CONTENT_TYPES[kind], **(_CSV_HEADERS if kind == media.CSV else {})}
    return web.Response(body=media.encode(body, kind), status=status, headers=headers)


def _operation(raw: request_body.Body, content_type: str | None, limit: int) -> Any:
    """The operation a body holds (blocking for a spooled body); HarperError when it holds none."""
    if media.body_type(content_type) == media.JSON:
        body = request_body.parse(raw, limit)
        if not isinstance(body, dict):
            raise INVALID_JSON()
        return body
    if raw.size > limit:
        raise request_body.BodyTooLarge(json_body_too_large(raw.size, limit))
    try:
        body = media.decode(raw.path.read_bytes() if raw.path else raw.data, content_type)
    except media.BodyError as err:
        raise HarperError(str(err)) from None
    if not isinstance(body, dict):
        raise HarperError("The request body must be a map of the operation's fields, 'operation' among them.")
    return body


class Api:
    def __init__(self, operations: Operations, directory: Directory, settings: Settings,
                 directory_caught_up: Callable[[], Awaitable[None]]) -> None:
        """``directory_caught_up``: waits until the directory holds every user and role written before now,
        through any worker (an ``add_user`` answered by another process a moment ago)."""
        self.operations = operations
        self.directory = directory
        self.settings = settings
        self.directory_caught_up = directory_caught_up
        self._spool = settings.data_dir / "tmp" / "bodies"
        self._runner: web.AppRunner | None = None
        #: whether the API accepts on its port yet (see Settings.listen_when_ready)
        self._shared = False
        #: what else registers routes on the API's application (the worker's console: health, metrics, jobs page)
        self.extensions: list[Callable[[web.Application], None]] = []

    async def principal_of(self, request: web.Request) -> Principal | None:
        """The user the request's Basic credentials authenticate, or None."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            username, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        await self.directory_caught_up()
        return await self.directory.authenticate(username, password)

    async def handle(self, request: web.Request) -> web.Response:
        kind = media.negotiate(request.headers.get("Accept"))
        if kind is None:
            return _answer(media.not_acceptable(), media.JSON, 406)
        user = await self.principal_of(request)
        if user is None:
            return _answer({"error": LOGIN_FAILED}, kind, 401)
        body = None
        content_type = request.headers.get("Content-Type")
        try:
            raw = await request_body.read(request, self._spool, self.settings.max_body_bytes)
            try:
                limit = self.settings.max_json_body_bytes
                body = await asyncio.to_thread(_operation, raw, content_type, limit) if raw.path \
                    else _operation(raw, content_type, limit)
                answer = await self.operations.call(body, user)
            finally:
                raw.discard()  # a csv_data_load's data was read from it before the answer
        except HarperError as err:
            return _answer(err.body(), kind, err.status)
        except Exception:  # noqa: BLE001 - one bad request must not take the API down
            log.exception("operation failed", extra={"operation": body.get("operation") if body else None})
            return _answer({"error": "There was an error processing the request; see the worker log."}, kind, 500)
        if isinstance(answer, RowStream):
            if kind == media.JSON:
                return await self._stream(request, answer)
            answer = await answer.collect()  # MessagePack, CBOR and CSV answers are written whole
        return _answer(answer, kind)

    async def _stream(self, request: web.Request, answer: RowStream) -> web.StreamResponse:
        """Send the rows of an answer as they are read (a failure from here on can only cut the answer short)."""
        pieces = answer.pieces()
        try:
            response = web.StreamResponse(headers={"Content-Type": media.CONTENT_TYPES[media.JSON]})
            await response.prepare(request)
            async for piece in pieces:
                await response.write(piece)
            await response.write_eof()
            return response
        finally:
            await pieces.aclose()  # type: ignore[attr-defined]
            answer.close()

    async def start(self) -> None:
        request_body.clear(self._spool)
        app = web.Application(client_max_size=self.settings.max_body_bytes)
        app.router.add_post("/", self.handle)
        for extend in self.extensions:
            extend(app)
        # a stopping worker answers the requests in progress for a moment, then cancels them
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=STOP_TIMEOUT)
        await self._runner.setup()
        if not self.settings.listen_when_ready:
            await self.share()
        if self.settings.own_port is not None:  # this process alone: to scrape or probe it (several processes)
            await web.TCPSite(self._runner, self.settings.http_host, self.settings.own_port).start()
            log.info("this worker process also listening", extra={
                "url": f"http://{self.settings.http_host}:{self.settings.own_port}/"})

    async def share(self) -> None:
        """Accept requests on the Operations API's port (once: later calls do nothing)."""
        if self._shared or self._runner is None:
            return
        self._shared = True
        if self.settings.listen_fd is not None:  # the socket `up` listens on for all its processes
            site: web.BaseSite = web.SockSite(self._runner, socket.socket(fileno=self.settings.listen_fd))
        else:
            site = web.TCPSite(self._runner, self.settings.http_host, self.settings.http_port)
        await site.start()
        log.info("operations API listening", extra={"url": f"http://{self.settings.http_host}:{self.settings.http_port}/"})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._shared = False
