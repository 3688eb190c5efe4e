"""Request bodies of the Operations API: read within limits, without holding a large one in memory.

A body up to :data:`SPOOL_BYTES` is read into memory and parsed as it is.
A larger one is spooled to a file as it arrives (a 413 as soon as it passes
``max_body_bytes``). If it is a ``csv_data_load``, its ``data`` string stays
in that file: the top level of the JSON object is scanned for the span of
the ``data`` string, the rest of the object is parsed with ``data`` replaced
by ``null``, and the data is decoded block by block when the job's chunks are
produced (:class:`pipeline.sources.data.SpooledData`). Any other operation is
parsed whole, and only up to ``max_json_body_bytes``: its objects live in
memory.
"""
from __future__ import annotations

import asyncio
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import orjson
from aiohttp import web

from .contract.answers import body_too_large, json_body_too_large
from .contract.errors import HarperError
from .sources.data import SpooledData

#: bodies larger than this are spooled to disk as they arrive
SPOOL_BYTES = 1024 ** 2
_READ = 64 * 1024
#: bytes of a spooled body scanned at a time
_SCAN_BLOCK = 1024 ** 2
#: the longest top-level key worth reading (``data`` is four bytes; an escaped one a little more)
_KEY_BYTES = 64
_STRUCTURE = re.compile(rb'["{}\[\],:]')


class BodyTooLarge(HarperError):
    def __init__(self, message: str) -> None:
        super().__init__(message, 413)


@dataclass
class Body:
    """A request's body: in memory, or spooled to ``path`` (which the caller removes with :meth:`discard`)."""
    size: int
    data: bytes = b""
    path: Path | None = None

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


async def read(request: web.Request, spool_dir: Path, max_body_bytes: int) -> Body:
    """The request's body, spooled past :data:`SPOOL_BYTES`; BodyTooLarge past ``max_body_bytes``.

    The spool is written a megabyte at a time, in a thread: a slow disk must not stall the event loop.
    """
    if (request.content_length or 0) > max_body_bytes:
        raise BodyTooLarge(body_too_large(str(request.content_length), max_body_bytes))
    chunks: list[bytes] = []
    size = buffered = 0
    body = Body(0)
    spool = None
    try:
        async for chunk in request.content.iter_chunked(_READ):
            size += len(chunk)
            if size > max_body_bytes:
                raise BodyTooLarge(body_too_large(f"at least {size}", max_body_bytes))
            chunks.append(chunk)
            buffered += len(chunk)
            if buffered > SPOOL_BYTES:
                if spool is None:
                    spool_dir.mkdir(parents=True, exist_ok=True)
                    body.path = spool_dir / f"body-{uuid.uuid4()}.json"
                    spool = open(body.path, "wb")
                await asyncio.to_thread(spool.writelines, chunks)
                chunks, buffered = [], 0
        if spool is not None:
            await asyncio.to_thread(spool.writelines, chunks)
            chunks = []
    except BaseException:
        body.discard()
        raise
    finally:
        if spool is not None:
            spool.close()
    body.size = size
    body.data = b"".join(chunks)
    return body


def parse(body: Body, max_json_body_bytes: int) -> Any:
    """The operation a body holds (blocking: run it in a thread for a spooled body).

    A spooled csv_data_load keeps its ``data`` as :class:`SpooledData`; None
    when the body is not JSON.
    """
    try:
        if body.path is None:
            return orjson.loads(body.data) if body.data else None
        span = _data_span(body.path)
        if span is not None:
            with open(body.path, "rb") as source:
                head = source.read(span[0] - 1)
                source.seek(span[1] + 1)
                tail = source.read(SPOOL_BYTES + 1)
            if len(head) + len(tail) <= SPOOL_BYTES:
                op = orjson.loads(head + b"null" + tail)
                if isinstance(op, dict) and op.get("operation") == "csv_data_load" and op.get("data") is None:
                    op["data"] = SpooledData(body.path, *span)
                    return op
        if body.size > max_json_body_bytes:
            raise BodyTooLarge(json_body_too_large(body.size, max_json_body_bytes))
        return orjson.loads(body.path.read_bytes())
    except orjson.JSONDecodeError:
        return None


def _blocks(path: Path) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as source:
        offset = 0
        while block := source.read(_SCAN_BLOCK):
            yield offset, block
            offset += len(block)


def _data_span(path: Path) -> tuple[int, int] | None:
    """The span of the contents of the last top-level ``"data"`` string of the JSON object in ``path`` (the
    bytes between its quotes), or None: no such string, or not a well-formed object as far as scanned.

    Inside a string only quotes are looked for (a CSV has an escape on every line, but few quotes); a quote
    preceded by an odd run of backslashes is part of the string. The scan stops at a top-level ``operation``
    that is not csv_data_load (an insert's records are not worth scanning).
    """
    depth = 0
    in_string = False
    run = 0  # backslashes that ended the previous block, inside a string
    key: bytearray | None = None  # the top-level key being read
    operation: bytearray | None = None  # the top-level operation's value being read
    last_key: bytes | None = None
    expect_key = value_next = False
    start: int | None = None
    span = None
    for offset, block in _blocks(path):
        i = 0
        while i < len(block):
            if in_string:
                j = block.find(b'"', i)
                end = j if j >= 0 else len(block)
                for text in (key, operation):
                    if text is not None and len(text) <= _KEY_BYTES:
                        text += block[i:end]
                backslashes = (end - i) - len(block[i:end].rstrip(b"\\"))
                if backslashes == end - i:
                    backslashes += run
                if j < 0:
                    run = backslashes
                    break
                run = 0
                if backslashes % 2:  # an escaped quote
                    for text in (key, operation):
                        if text is not None and len(text) <= _KEY_BYTES:
                            text += b'"'
                    i = j + 1
                    continue
                in_string = False
                if key is not None:
                    last_key, key = _key_text(key), None
                elif operation is not None:
                    if _key_text(operation) != b"csv_data_load":
                        return None
                    operation = None
                elif start is not None:
                    span = (start, offset + j)
                i = j + 1
                continue
            found = _STRUCTURE.search(block, i)
            if found is None:
                break
            j = found.start()
            char = block[j]
            if char == 0x22:  # a string: a top-level key, the data, or anything else
                in_string = True
                if depth == 1 and expect_key:
                    key, expect_key, start = bytearray(), False, None
                else:
                    start = offset + j + 1 if depth == 1 and value_next and last_key == b"data" else None
                    if depth == 1 and value_next and last_key == b"operation":
                        operation = bytearray()
                value_next = False
            elif char in b"{[":
                if depth == 0 and char != 0x7B:
                    return None
                depth += 1
                expect_key = depth == 1
                value_next = False
            elif char in b"}]":
                depth -= 1
                if depth == 0:
                    return span
            elif char == 0x2C and depth == 1:  # ","
                expect_key = True
            elif char == 0x3A and depth == 1:  # ":"
                value_next = True
                if last_key == b"data":
                    span = None  # a later "data" replaces an earlier one, as in the parse of the rest
            i = j + 1
    return None


def _key_text(raw: bytearray) -> bytes | None:
    """A key as the parse would read it (escapes decoded), or None when it is too long to be ``data``."""
    if len(raw) > _KEY_BYTES:
        return None
    if b"\\" not in raw:
        return bytes(raw)
    try:
        return orjson.loads(b'"' + bytes(raw) + b'"').encode()
    except orjson.JSONDecodeError:
        return None


def clear(spool_dir: Path) -> None:
    """Remove bodies a stopped worker left spooled."""
    if spool_dir.is_dir():
        for leftover in spool_dir.glob("body-*.json"):
            os.unlink(leftover)
