"""Secrets taken out of what people read: job messages and events, logs, the dead-letter topic.

An operation may carry credentials (S3 keys, a password in a URL's user part:
``http://alice:PW@host/x.csv``). The ``operations`` topic keeps them, since
the job needs them, but nothing derived from the operation does: a password
in a URL becomes ``***``, and so do S3 keys in a dead-lettered message.
"""
from __future__ import annotations

import re

MASK = "***"
#: the password of a URL's user part, also with JSON's escaped slashes (``http:\/\/alice:PW@host``)
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*:(?:\\?/){2}[^/\\?#@\s:\"]*):[^/\\?#@\s\"]*@")
_URL_PASSWORD_BYTES = re.compile(_URL_PASSWORD.pattern.encode())
_S3_KEYS = re.compile(rb'("aws_(?:secret_access_key|access_key_id)"\s*:\s*)"(?:[^"\\]|\\.)*"')


def text(value: str) -> str:
    """``value`` with every URL password masked."""
    return _URL_PASSWORD.sub(rf"\1:{MASK}@", value) if "@" in value else value


def message_bytes(value: bytes) -> tuple[bytes, list[str]]:
    """A raw message with URL passwords and S3 keys masked, and what was masked (for a header)."""
    value, passwords = _URL_PASSWORD_BYTES.subn(rb"\1:" + MASK.encode() + b"@", value)
    value, keys = _S3_KEYS.subn(rb'\1"' + MASK.encode() + b'"', value)
    return value, [what for what, count in (("url passwords", passwords), ("aws credentials", keys)) if count]
