"""Harper's date functions (moment.js underneath in Harper): epoch milliseconds in, Harper's shapes out.

``NOW()``, ``CURRENT_TIMESTAMP``, ``GETDATE()``, ``DATE_ADD``, ``DATE_SUB`` give epoch ms;
``CURRENT_DATE()`` ``YYYY-MM-DD``; ``CURRENT_TIME()`` ``HH:mm:ss.SSS``; ``DATE()``,
``GET_SERVER_TIME()`` and ``OFFSET_UTC()`` moment's ISO form with the offset (``...+0000``);
``DATE_DIFF(a, b[, unit])`` a - b in milliseconds or in the unit, fractions kept; ``DATE_FORMAT(d, fmt)`` moment's format
tokens; ``EXTRACT(d, unit)`` the component as text. Times are UTC, as the server's are.
"""
from __future__ import annotations

import re
import time
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone
from typing import Any

from dateutil import parser as date_parser
from dateutil.relativedelta import relativedelta

_UNITS = {"y": "years", "year": "years", "years": "years", "Q": "quarters", "quarter": "quarters",
          "quarters": "quarters", "M": "months", "month": "months", "months": "months", "w": "weeks",
          "week": "weeks", "weeks": "weeks", "d": "days", "day": "days", "days": "days", "h": "hours",
          "hour": "hours", "hours": "hours", "m": "minutes", "minute": "minutes", "minutes": "minutes",
          "s": "seconds", "second": "seconds", "seconds": "seconds", "ms": "milliseconds",
          "millisecond": "milliseconds", "milliseconds": "milliseconds"}


def _unit(unit: Any) -> str | None:
    if not isinstance(unit, str):
        return None
    return _UNITS.get(unit) or _UNITS.get(unit.lower())


#: the time NOW() answers, when set: a shard applying an SQL UPDATE sets it to the command's time, so a replay
#: of its log writes the same values
clock: ContextVar[int | None] = ContextVar("clock", default=None)


def now_ms() -> int:
    fixed = clock.get()
    return fixed if fixed is not None else int(time.time() * 1000)


def to_datetime(value: Any) -> datetime | None:
    """A date as moment reads one: epoch ms, or a date/time text (UTC unless it says otherwise)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return datetime.fromtimestamp(float(text) / 1000, tz=timezone.utc)
        try:
            parsed = date_parser.isoparse(text)
        except ValueError:
            try:
                parsed = date_parser.parse(text)
            except (ValueError, OverflowError):
                return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


def _ms(moment: datetime) -> int:
    return int(round(moment.timestamp() * 1000))


def _iso(moment: datetime) -> str:
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}" + \
        f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _utc_now() -> datetime:
    return datetime.fromtimestamp(now_ms() / 1000, tz=timezone.utc)


def current_date() -> str:
    return _utc_now().strftime("%Y-%m-%d")


def current_time() -> str:
    moment = _utc_now()
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def date(value: Any = None) -> str | None:
    moment = _utc_now() if value is None else to_datetime(value)
    return _iso(moment) if moment else None


def server_time() -> str:
    return _iso(_utc_now())


def offset_utc(value: Any, offset: Any) -> str | None:
    """moment's utcOffset: an offset under 16 in magnitude is hours, otherwise minutes."""
    moment = to_datetime(value)
    if moment is None or not isinstance(offset, (int, float)) or isinstance(offset, bool):
        return None
    minutes = offset * 60 if abs(offset) < 16 else offset
    return _iso(moment.astimezone(timezone(timedelta(minutes=minutes))))


def _shift(moment: datetime, amount: float, unit: str) -> datetime:
    if unit == "quarters":
        return moment + relativedelta(months=int(amount) * 3)
    if unit in ("years", "months"):
        return moment + relativedelta(**{unit: int(amount)})
    return moment + timedelta(**{unit: amount})


def date_add(value: Any, amount: Any, unit: Any) -> int | None:
    moment, unit_name = to_datetime(value), _unit(unit)
    if moment is None or unit_name is None or not isinstance(amount, (int, float)) or isinstance(amount, bool):
        return None
    return _ms(_shift(moment, amount, unit_name))


def date_sub(value: Any, amount: Any, unit: Any) -> int | None:
    if not isinstance(amount, (int, float)) or isinstance(amount, bool):
        return None
    return date_add(value, -amount, unit)


def _months_between(a: datetime, b: datetime) -> float:
    """moment's monthDiff: whole months plus the fraction of the month that follows."""
    whole = (a.year - b.year) * 12 + (a.month - b.month)
    anchor = b + relativedelta(months=whole)
    if a - anchor < timedelta(0):
        other = b + relativedelta(months=whole - 1)
        fraction = (a - anchor) / (anchor - other)
    else:
        other = b + relativedelta(months=whole + 1)
        fraction = (a - anchor) / (other - anchor)
    return whole + fraction


def date_diff(a: Any, b: Any, unit: Any = None) -> float | None:
    first, second = to_datetime(a), to_datetime(b)
    if first is None or second is None:
        return None
    unit_name = _unit(unit) if unit is not None else "milliseconds"
    if unit_name is None:
        unit_name = "milliseconds"
    if unit_name in ("years", "quarters", "months"):
        months = _months_between(first, second)
        value = months / {"years": 12, "quarters": 3, "months": 1}[unit_name]
    else:
        seconds = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1,
                   "milliseconds": 0.001}[unit_name]
        value = (first - second).total_seconds() / seconds
    return int(value) if float(value).is_integer() else value  # Harper asks moment for the precise difference


_TOKENS = re.compile(r"\[[^\]]*\]|YYYY|YY|Q|MMMM|MMM|MM|M|Do|DDDD|DD|D|dddd|ddd|dd|d|E|e|HH|H|hh|h|kk|k|"
                     r"mm|m|ss|s|SSS|SS|S|A|a|ZZ|Z|X|x|ww|w|WW|W|GGGG|gggg")
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _offset(moment: datetime, colon: bool) -> str:
    minutes = int((moment.utcoffset() or timedelta(0)).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}{':' if colon else ''}{abs(minutes) % 60:02d}"


def _token(moment: datetime, token: str) -> str:
    hour12 = moment.hour % 12 or 12
    weekday = (moment.weekday() + 1) % 7  # moment: Sunday is 0
    iso_year, iso_week, _ = moment.isocalendar()
    values = {
        "YYYY": f"{moment.year:04d}", "YY": f"{moment.year % 100:02d}", "Q": str((moment.month - 1) // 3 + 1),
        "MMMM": _MONTHS[moment.month - 1], "MMM": _MONTHS[moment.month - 1][:3], "MM": f"{moment.month:02d}",
        "M": str(moment.month), "Do": _ordinal(moment.day), "DDDD": f"{moment.timetuple().tm_yday:03d}",
        "DD": f"{moment.day:02d}", "D": str(moment.day), "dddd": _DAYS[moment.weekday()],
        "ddd": _DAYS[moment.weekday()][:3], "dd": _DAYS[moment.weekday()][:2], "d": str(weekday),
        "E": str(moment.isoweekday()), "e": str(weekday), "HH": f"{moment.hour:02d}", "H": str(moment.hour),
        "hh": f"{hour12:02d}", "h": str(hour12), "kk": f"{moment.hour or 24:02d}", "k": str(moment.hour or 24),
        "mm": f"{moment.minute:02d}", "m": str(moment.minute), "ss": f"{moment.second:02d}",
        "s": str(moment.second), "SSS": f"{moment.microsecond // 1000:03d}",
        "SS": f"{moment.microsecond // 10000:02d}", "S": str(moment.microsecond // 100000),
        "A": "AM" if moment.hour < 12 else "PM", "a": "am" if moment.hour < 12 else "pm",
        "ZZ": _offset(moment, False), "Z": _offset(moment, True), "X": str(_ms(moment) // 1000),
        "x": str(_ms(moment)), "ww": f"{iso_week:02d}", "w": str(iso_week), "WW": f"{iso_week:02d}",
        "W": str(iso_week), "GGGG": f"{iso_year:04d}", "gggg": f"{iso_year:04d}"}
    return values[token]


def date_format(value: Any, fmt: Any) -> str | None:
    moment = to_datetime(value)
    if moment is None:
        return None
    if not isinstance(fmt, str):
        return _iso(moment)
    return _TOKENS.sub(lambda m: m.group(0)[1:-1] if m.group(0).startswith("[") else _token(moment, m.group(0)),
                       fmt)


_PARTS = {"years": "%Y", "months": "%m", "days": "%d", "hours": "%H", "minutes": "%M", "seconds": "%S"}


def extract(value: Any, unit: Any) -> str | None:
    moment, unit_name = to_datetime(value), _unit(unit)
    if moment is None or unit_name is None:
        return None
    if unit_name == "milliseconds":
        return str(moment.microsecond // 1000)
    if unit_name not in _PARTS:
        return None
    return str(int(moment.strftime(_PARTS[unit_name])))


#: name: (function, DuckDB result type, fewest arguments, most arguments, volatile)
FUNCTIONS = {
    "now": (now_ms, "DOUBLE", 0, 0, True),
    "current_timestamp": (now_ms, "DOUBLE", 0, 0, True),
    "getdate": (now_ms, "DOUBLE", 0, 0, True),
    "current_date": (current_date, "VARCHAR", 0, 0, True),
    "current_time": (current_time, "VARCHAR", 0, 0, True),
    "get_server_time": (server_time, "VARCHAR", 0, 0, True),
    "date": (date, "VARCHAR", 0, 1, True),
    "offset_utc": (offset_utc, "VARCHAR", 2, 2, False),
    "date_add": (date_add, "DOUBLE", 3, 3, False),
    "date_sub": (date_sub, "DOUBLE", 3, 3, False),
    "date_diff": (date_diff, "DOUBLE", 2, 3, False),
    "datediff": (date_diff, "DOUBLE", 2, 3, False),
    "date_format": (date_format, "VARCHAR", 1, 2, False),
    "extract": (extract, "VARCHAR", 2, 2, False),
}
