"""Structured logs: one logfmt line per record (``key=value``), quiet at info level, URL passwords masked."""
from __future__ import annotations

import logging
import sys
import time

from . import redact

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
#: libraries whose info-level chatter is not ours to print
_NOISY = ("faust", "mode", "aiokafka", "kafka", "aiohttp.access")


def _value(value: object) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class LogfmtFormatter(logging.Formatter):
    def __init__(self, proc: str | None = None) -> None:
        super().__init__()
        #: which process of ``harper-pipeline up`` wrote the line (they share its stderr)
        self.proc = [f"proc={_value(proc)}"] if proc else []

    def format(self, record: logging.LogRecord) -> str:
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        fields = [f"time={when}", f"level={record.levelname.lower()}", *self.proc, f"logger={record.name}",
                  f"msg={_value(record.getMessage())}"]
        fields += [f"{k}={_value(v)}" for k, v in vars(record).items() if k not in _STANDARD]
        if record.exc_info:
            fields.append(f"error={_value(self.formatException(record.exc_info))}")
        return redact.text(" ".join(fields))


def setup(level: str = "info", proc: str | None = None) -> None:
    """``proc``: a name for this process in every line (``up`` and its workers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter(proc))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    quiet = max(logging.WARNING, root.level)
    for name in _NOISY:
        logging.getLogger(name).setLevel(quiet)
    # sqlglot warns of what a dialect cannot express while it transpiles a user's statement for DuckDB
    # ("Arrays are not supported by MySQL"), once per such statement: about what a user sent, not the worker
    logging.getLogger("sqlglot").setLevel(max(logging.ERROR, root.level))
