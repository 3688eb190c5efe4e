"""csv_url_load's source: an HTTP(S) body streamed with aiohttp into the CSV reader.

Only http and https are fetched, redirects included (up to five, each hop
checked again). Addresses in loopback, private, link-local and other
non-public ranges are refused unless a configured network allows them, so an
operation cannot make a worker fetch internal services (the host is checked
as resolved just before each request). A redirect to another origin does not
get the passthrough headers that carry credentials.
"""
from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from typing import Any, BinaryIO
from urllib.parse import urljoin, urlparse

import aiohttp

from ..config import Settings
from ..contract.answers import csv_url_failed, csv_url_status
from ..contract.validate_jobs import CSV_CONTENT_TYPES
from .base import Position, SourcePartition
from .exceptions import UrlError, UrlRefused
from .pipe import Pipe, piped

MAX_REDIRECTS = 5
CHUNK = 256 * 1024


def _allowed(address: str, networks: tuple[str, ...]) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if any(ip in ipaddress.ip_network(n, strict=False) for n in networks):
        return True
    return ip.is_global and not ip.is_multicast


async def check_address(url: str, settings: Settings) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https"):
        raise UrlRefused(csv_url_failed(url, f"only http and https URLs can be loaded, not {parsed.scheme!r}"))
    if not parsed.hostname:
        raise UrlRefused(csv_url_failed(url, "the URL has no host"))
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parsed.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise UrlError(csv_url_failed(url, f"the host could not be resolved: {err.strerror}")) from None
    for *_, sockaddr in infos:
        if not _allowed(sockaddr[0], settings.url_allowed_networks):
            raise UrlRefused(csv_url_failed(
                url, f"the address {sockaddr[0]} is not public; allow its network with PIPELINE_URL_ALLOWED_NETWORKS "
                     "to load from it"))


#: headers that carry credentials: not sent on to another origin, as HTTP clients (curl, requests) do
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


def _headers_for_redirect(headers: dict[str, str], source: str, target: str) -> dict[str, str]:
    """The passthrough headers to send to a redirect's target: without credentials if its origin differs."""
    def origin(url: str) -> tuple[str, str]:  # compared as written: "host" and "host:80" differ, which only drops more
        parsed = urlparse(url)
        return parsed.scheme.lower(), parsed.netloc.rpartition("@")[2].lower()
    if origin(source) == origin(target):
        return headers
    return {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}


def _content_type_ok(value: str) -> bool:
    return value.split(";")[0].strip().lower() in CSV_CONTENT_TYPES


async def download(url: str, headers: dict[str, Any] | None, settings: Settings, pipe: Pipe) -> None:
    """Stream the body into ``pipe``; any failure is handed to the pipe's reader as the job's error."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=settings.url_connect_timeout,
                                    sock_read=settings.url_idle_timeout)
    sent = {str(k): str(v) for k, v in (headers or {}).items()}
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            current = url
            for _ in range(MAX_REDIRECTS + 1):
                await check_address(current, settings)
                async with session.get(current, allow_redirects=False, headers=sent) as response:
                    if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                        target = urljoin(current, response.headers["Location"])
                        sent = _headers_for_redirect(sent, current, target)
                        current = target
                        continue
                    await _stream(url, response, settings, pipe)
                    return
            raise UrlError(csv_url_failed(url, f"more than {MAX_REDIRECTS} redirects"))
    except UrlError as err:
        await pipe.fail(err)
    except asyncio.TimeoutError:
        await pipe.fail(UrlError(csv_url_failed(url, "the server did not answer in time")))
    except aiohttp.ClientError as err:
        await pipe.fail(UrlError(csv_url_failed(url, f"the download failed: {err}")))


async def _stream(url: str, response: aiohttp.ClientResponse, settings: Settings, pipe: Pipe) -> None:
    if not 200 <= response.status < 300:
        raise UrlError(csv_url_status(url, response.status, response.reason or ""))
    content_type = response.headers.get("Content-Type", "")
    if not _content_type_ok(content_type):
        raise UrlError(csv_url_failed(url, f"unsupported content type: {content_type}"))
    total = 0
    async for chunk in response.content.iter_chunked(CHUNK):
        total += len(chunk)
        if total > settings.url_max_bytes:
            raise UrlError(csv_url_failed(
                url, f"the body is larger than the limit of {settings.url_max_bytes} bytes (PIPELINE_URL_MAX_BYTES)"))
        await pipe.feed(chunk)
        if pipe.closed_by_reader:
            return
    if total == 0:
        raise UrlError(csv_url_failed(url, "no csv found at url"))
    await pipe.end()


class UrlSource(SourcePartition):
    """csv_url_load's source: the body streamed by a download task into a pipe the reader's thread reads."""

    def __init__(self, url: str, headers: dict[str, Any] | None, settings: Settings, batch_size: int,
                 resume: Position | None = None) -> None:
        """``headers``: the operation's ``passthrough_headers``, sent with each request."""
        super().__init__(batch_size, resume, settings.max_record_bytes)
        self.url = url
        self.headers = headers
        self.settings = settings

    async def open_stream(self, stack: contextlib.AsyncExitStack) -> BinaryIO:
        return await piped(stack, lambda pipe: download(self.url, self.headers, self.settings, pipe))
