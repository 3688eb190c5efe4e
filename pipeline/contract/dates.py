"""Dates as Harper reads and prints them (JavaScript's ``Date.parse`` and ``toISOString``)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

_ISO = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?"
                  r"(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?)?"
                  r"(Z|[+-]\d{2}(?::?\d{2})?)?")


def parse_iso_date(text: Any) -> float | None:
    """Epoch ms of an ISO-8601 text as JavaScript's ``Date.parse`` reads it; None if it is not one.

    A date alone is UTC midnight; a date-time without an offset is local time.
    """
    if not isinstance(text, str):
        return None
    match = _ISO.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if hour is not None and minute is None:
        return None
    try:
        moment = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                          int(second or 0), int((fraction or "0")[:6].ljust(6, "0")))
    except ValueError:
        return None
    if zone is not None:
        if zone == "Z":
            moment = moment.replace(tzinfo=timezone.utc)
        else:
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            offset = sign * (int(digits[:2]) * 60 + int(digits[2:4] or 0))
            moment = moment.replace(tzinfo=timezone.utc) - timedelta(minutes=offset)
            return moment.timestamp() * 1000.0
    elif hour is None:
        moment = moment.replace(tzinfo=timezone.utc)
    else:
        moment = moment.astimezone()  # local time, as JavaScript reads a date-time without an offset
    return moment.timestamp() * 1000.0


def iso_ms(epoch_ms: float) -> str:
    """How JavaScript prints a Date: ``2021-01-25T22:21:24.781Z``."""
    moment = datetime.fromtimestamp(epoch_ms / 1000.0, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
