"""The message a failed job ends with: Harper's text for Harper's errors, a person's sentence for the rest."""
from __future__ import annotations

import logging

from ..contract.errors import HarperError
from ..contract.operations import EXPORTS
from ..sources.csv import CsvError
from ..sources.json import JsonSourceError

log = logging.getLogger(__name__)


def job_error(job_id: str, op: dict, err: Exception) -> str | dict:
    """The message a job that failed with ``err`` ends with."""
    if isinstance(err, HarperError):
        return err.message
    if isinstance(err, (CsvError, JsonSourceError)):
        return str(err)
    if isinstance(err, OSError):
        what = f"could not write {op.get('file', op.get('path'))}" if op.get("operation") in EXPORTS \
            else f"could not read {op.get('file_path')}"
        return f"{what}: {err.strerror or err}"
    log.error("job failed", exc_info=err, extra={"job_id": job_id, "operation": op.get("operation")})
    return f"{op.get('operation')} failed: {err}"
