"""What the shard side raises about a record it cannot take (the request's fault, reported to its job)."""
from __future__ import annotations

from ..errors import PipelineError


class ShardError(PipelineError):
    """A record or command the shards cannot apply."""


class MissingKey(ShardError):
    """An update's record without a value for its primary key: there is no record it could update."""
