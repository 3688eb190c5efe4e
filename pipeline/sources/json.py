"""A JSON array of records, read incrementally (ijson), in batches: import_from_s3's ``.json`` keys."""
from __future__ import annotations

from typing import Any, BinaryIO, Iterator

import ijson

from ..cells import CellError, cast_json_deep
from .exceptions import JsonSourceError

# the pure-Python backend keeps integers of any size exact; the C one overflows past 64 bits
_ijson = ijson.get_backend("python")


def read_json_batches(stream: BinaryIO, batch_size: int = 1000, skip: int = 0) -> Iterator[list[dict[str, Any]]]:
    """Records of a top-level JSON array; JSON-looking strings inside are parsed as Harper does.

    ``skip``: records to pass over first (a resumed load has loaded them).
    """
    batch: list[dict[str, Any]] = []
    try:
        items = _ijson.items(stream, "item", use_float=True)
        for _ in range(skip):
            if next(items, None) is None:
                raise JsonSourceError(f"the array now has fewer than the {skip} records loaded before the job "
                                      "stopped: it has changed since the job started")
        for number, record in enumerate(items, skip + 1):
            if not isinstance(record, dict):
                raise JsonSourceError(f"record {number} of the array is not a JSON object")
            typed = {}
            for name, value in record.items():
                try:
                    typed[name] = cast_json_deep(value)
                except CellError as err:
                    raise JsonSourceError(f"record {number}, attribute '{name}': {err}") from None
            batch.append(typed)
            if len(batch) >= batch_size:
                yield batch
                batch = []
    except (ijson.JSONError, ijson.IncompleteJSONError) as err:
        raise JsonSourceError(f"the file is not a JSON array of records: {err}") from None
    if batch:
        yield batch
