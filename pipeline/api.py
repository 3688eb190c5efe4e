"""Harper's Operations API over HTTP: ``POST /`` with a JSON body and Basic auth, in every worker.

Bodies are read within limits (:mod:`pipeline.request_body`): a large one is
spooled to the worker's data directory, never held in memory whole.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from typing import Any

from aiohttp import web

from . import codec, request_body
from .auth.directory import Directory, Principal
from .config import Settings
from .contract.errors import INVALID_JSON, HarperError
from .contract.permissions import LOGIN_FAILED
from .ops.dispatch import Operations

log = logging.getLogger(__name__)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=codec.dumps(body), status=status, content_type="application/json")


class Api:
    def __init__(self, operations: Operations, directory: Directory, settings: Settings) -> None:
        self.operations = operations
        self.directory = directory
        self.settings = settings
        self._spool = settings.data_dir / "tmp" / "bodies"
        self._runner: web.AppRunner | None = None

    async def principal_of(self, request: web.Request) -> Principal | None:
        """The user the request's Basic credentials authenticate, or None."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            username, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return await self.directory.authenticate(username, password)

    async def handle(self, request: web.Request) -> web.Response:
        user = await self.principal_of(request)
        if user is None:
            return _json({"error": LOGIN_FAILED}, 401)
        body = None
        try:
            raw = await request_body.read(request, self._spool, self.settings.max_body_bytes)
            try:
                limit = self.settings.max_json_body_bytes
                body = await asyncio.to_thread(request_body.parse, raw, limit) if raw.path \
                    else request_body.parse(raw, limit)
                if not isinstance(body, dict):
                    return _json(INVALID_JSON().body(), 400)
                answer = await self.operations.call(body, user)
            finally:
                raw.discard()  # a csv_data_load's data was read from it before the answer
        except HarperError as err:
            return _json(err.body(), err.status)
        except Exception:  # noqa: BLE001 - one bad request must not take the API down
            log.exception("operation failed", extra={"operation": body.get("operation") if body else None})
            return _json({"error": "There was an error processing the request; see the worker log."}, 500)
        return _json(answer)

    async def start(self) -> None:
        request_body.clear(self._spool)
        app = web.Application(client_max_size=self.settings.max_body_bytes)
        app.router.add_post("/", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.settings.http_host, self.settings.http_port).start()
        log.info("operations API listening", extra={"url": f"http://{self.settings.http_host}:{self.settings.http_port}/"})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
