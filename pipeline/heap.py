"""The C heap of a worker process (glibc's malloc): free memory given back to the system.

What a worker holds for good is bounded (RocksDB's block cache and memtables,
see :mod:`pipeline.shard.rocksdb`; the queues and spills of a job). Its
resident size also counts memory malloc keeps after it is freed: the heap
gives back only its top, and the pages of free chunks in its middle stay
resident (measured after a 1M-row export: 20-40 MB per worker process) until
``malloc_trim``, which :func:`trim` calls, every :data:`TRIM_INTERVAL` seconds
(from the worker's app): a job starts from what the worker holds, not from
what the jobs before it left behind.

Not done, measured (``bench/RESULTS.md``, "What changed (issue 17)"): a fixed
``M_MMAP_THRESHOLD`` of 128 KiB, which keeps large blocks out of the heap,
lowered an export's peak by ~15 MB but cost ~30% more CPU (every message of
rows and spill block read became an ``mmap`` and its page faults).

Elsewhere than glibc (musl, macOS) this is left to the allocator.
"""
from __future__ import annotations

import ctypes
import ctypes.util

#: seconds between two trims of the heap (a trim takes about a millisecond)
TRIM_INTERVAL = 5.0


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


_libc = _glibc()


def trim() -> None:
    """Give the heap's free pages back to the system."""
    if _libc is not None:
        _libc.malloc_trim(0)
