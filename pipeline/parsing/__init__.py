"""Parse processes: the CPU-bound part of a load (parse, type, encode, route) off the job's event loop.

:mod:`.block` is what one block becomes (run in a parse process, or in a
thread when there is none); :mod:`.child` is a parse process's loop;
:mod:`.pool` starts them, hands them blocks and notices when one dies.
"""
