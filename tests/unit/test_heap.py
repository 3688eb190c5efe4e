"""Giving the C heap's free pages back (glibc): what a worker's resident size keeps after its jobs."""
from __future__ import annotations

import ctypes

import pytest

from pipeline import heap


def _rss_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.mark.skipif(heap._libc is None, reason="not glibc")
def test_trim_gives_back_the_free_pages_in_the_middle_of_the_heap():
    libc = heap._libc
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    # 64 MB in 64 KiB blocks (below malloc's mmap threshold: in the heap), each touched so it is resident
    blocks = [libc.malloc(64 * 1024) for _ in range(1024)]
    for block in blocks:
        ctypes.memset(block, 1, 64 * 1024)
    # every other block freed: free chunks between live ones, which free() cannot give back (not the heap's top)
    for block in blocks[::2]:
        libc.free(block)
    before = _rss_kb()
    heap.trim()
    after = _rss_kb()
    for block in blocks[1::2]:
        libc.free(block)
    assert before - after > 16 * 1024
