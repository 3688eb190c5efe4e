"""Which shard holds a record: a stable hash of (database, table, encoded primary key).

Its own module, importing nothing, so that a parse process routes rows by the
same rule as the splitter.
"""
from __future__ import annotations

import zlib
from itertools import repeat


def table_crc(database: str, table: str) -> int:
    """The hash of the table's part, which :func:`shard_of` continues with the key."""
    return zlib.crc32(f"{database}/{table}/".encode())


def shard_of(table: int, key: bytes, shards: int) -> int:
    """The shard of the record with ``key`` (:func:`pipeline.codec.encode_key`) in the table whose
    :func:`table_crc` is ``table``."""
    return zlib.crc32(key, table) % shards


def shards_of(table: int, keys: list[bytes], shards: int) -> list[int]:
    """:func:`shard_of` of each key, at C speed."""
    return list(map(shards.__rmod__, map(zlib.crc32, keys, repeat(table))))
