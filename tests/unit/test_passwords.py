"""Password hashes on their own: the scheme in use, and the first one still verifying."""
from __future__ import annotations

import base64
import hashlib

from pipeline.auth.passwords import hash_password, verify_password


def test_verification_of_both_hash_schemes():
    stored = hash_password("pw")
    assert stored.startswith("scrypt-sha256$") and verify_password("pw", stored)
    assert not verify_password("pw\0", stored) and not verify_password("pw ", stored)
    # a hash of the first scheme (scrypt of the password itself) still verifies, without its NUL weakness
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"pw", salt=salt, n=2 ** 14, r=8, p=1, dklen=32)
    legacy = f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    assert verify_password("pw", legacy) and not verify_password("pw\0", legacy)
