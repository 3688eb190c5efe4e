"""Passwords, stored as scrypt hashes, never in clear.

scrypt is slow on purpose (see :class:`pipeline.auth.directory.Directory`
for how a verified password is remembered so that it runs once per user and
password rather than once per request).

scrypt keys its inner PBKDF2-HMAC with the password, and HMAC pads a key with
zero bytes (and hashes one longer than 64 bytes): ``password`` and
``password\\0`` would be the same key. So scrypt is given the password's
SHA-256, always 32 bytes, where equal keys mean equal passwords.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}
_SCHEME = "scrypt-sha256"
#: the first scheme (scrypt of the password itself), still verified, with NUL refused, for users stored before
_LEGACY_SCHEME = "scrypt"


def _scrypt_key(password: str) -> bytes:
    return hashlib.sha256(password.encode()).digest()


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(_scrypt_key(password), salt=salt, dklen=32, **_SCRYPT)
    params = "{n}${r}${p}".format(**_SCRYPT)
    return f"{_SCHEME}${params}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    if "\0" in password:  # never a stored password (add_user refuses it); see the module's docstring for why
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme not in (_SCHEME, _LEGACY_SCHEME):
            return False
        key = _scrypt_key(password) if scheme == _SCHEME else password.encode()
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(key, salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
