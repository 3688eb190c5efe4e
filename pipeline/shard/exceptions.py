"""What the shard side raises about a record it cannot take (the request's fault, reported to its job)."""
from __future__ import annotations

from ..errors import PipelineError


class ShardError(PipelineError):
    """A record or command the shards cannot apply."""


class MissingKey(ShardError):
    """An update's record without a value for its primary key: there is no record it could update."""


class RecordTooLarge(ShardError):
    """A record larger than a shard command may carry (PIPELINE_MAX_RECORD_BYTES)."""

    def __init__(self, key: object, size: int, limit: int) -> None:
        super().__init__(f"the record with primary key {key!r} is {size} bytes, more than the limit of {limit} "
                         "bytes (PIPELINE_MAX_RECORD_BYTES)")
