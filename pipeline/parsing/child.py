"""A parse process: reads :class:`~pipeline.parsing.block.BlockRequest` s on stdin, answers each with its
:class:`~pipeline.parsing.block.ParsedBlock` on stdout, in order, until stdin ends.

Frames are an 8-byte little-endian length and a pickle; both ends are this
project's own code on one machine. It imports only what parsing needs, and
ends when its worker does (stdin closes), whatever killed the worker; it
ignores SIGINT, which a terminal sends the whole process group: its worker
decides when it stops.

Its heap is almost all young, acyclic objects (the rows, cells and records
of one block at a time, freed when the block is answered), so the cyclic
garbage collector's passes are pure cost: after the imports, what exists is
frozen out of its view and its first generation collects far less often.
"""
from __future__ import annotations

import gc
import pickle
import signal
import sys
import traceback

from .block import FAILED, ParsedBlock, parse_block

HEADER = 8
#: allocations between two collections of the youngest generation (Python's default is 700)
GC_THRESHOLD = 50_000


def frame(obj: object) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(HEADER, "little") + data


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = stdin.read(HEADER)
        if len(head) < HEADER:
            return
        request = pickle.loads(stdin.read(int.from_bytes(head, "little")))
        try:
            answer = parse_block(request)
        except Exception as err:  # noqa: BLE001 - a bug: the job ends with it, the process serves the next
            traceback.print_exc(file=sys.stderr)
            answer = ParsedBlock(FAILED, message=f"{type(err).__name__}: {err}")
        stdout.write(frame(answer))
        stdout.flush()


if __name__ == "__main__":
    main()
