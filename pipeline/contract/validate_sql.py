"""Harper's checks of the ``sql`` operation's request."""
from __future__ import annotations

from .errors import HarperError


def validate_sql(op: dict) -> str:
    sql = op.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise HarperError("The 'sql' parameter is missing from the request body")
    return sql
