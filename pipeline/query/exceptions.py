"""What a search raises when it cannot be answered (its request was valid: Harper's checks come first)."""
from __future__ import annotations

from ..errors import PipelineError


class QueryError(PipelineError):
    """A search that failed after it was planned."""


class ScanError(QueryError):
    """A scan that a shard could not run, or that did not finish in time."""


class SearchFailed(QueryError):
    """SQL's final stage (DuckDB) refused or failed the statement; Harper answers this with a 500."""
