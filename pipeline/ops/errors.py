"""Harper's answer for an error a lower layer raised: the boundary where their errors become Harper's.

Sources, the splitter, the query engine and S3 raise errors of their own
(:mod:`pipeline.errors`); only Harper's answers carry an HTTP status. The
operations translate here, once, for a synchronous answer and for a job's
message alike. The texts are the lower layers' own, word for word.
"""
from __future__ import annotations

import logging

from ..codec import InvalidKey
from ..contract.answers import UPDATE_NEEDS_KEY
from ..contract.errors import HarperError
from ..contract.operations import EXPORTS
from ..errors import PipelineError
from ..query.exceptions import SearchFailed
from ..s3 import S3Error
from ..shard.exceptions import MissingKey, RecordTooLarge
from ..sources.exceptions import SourceError

log = logging.getLogger(__name__)


def answer_for(err: PipelineError) -> HarperError | None:
    """Harper's answer for ``err``; None when it is not the request's doing (a scan that timed out...)."""
    if isinstance(err, HarperError):
        return err
    if isinstance(err, MissingKey):
        return HarperError(UPDATE_NEEDS_KEY)
    if isinstance(err, (InvalidKey, RecordTooLarge, SourceError, S3Error)):
        return HarperError(str(err))
    if isinstance(err, SearchFailed):
        return HarperError(str(err), 500)
    return None


def job_error(job_id: str, op: dict, err: Exception) -> str | dict:
    """The message a job that failed with ``err`` ends with."""
    answer = answer_for(err) if isinstance(err, PipelineError) else None
    if answer is not None:
        return answer.message
    if isinstance(err, OSError):
        what = f"could not write {op.get('file', op.get('path'))}" if op.get("operation") in EXPORTS \
            else f"could not read {op.get('file_path')}"
        return f"{what}: {err.strerror or err}"
    log.error("job failed", exc_info=err, extra={"job_id": job_id, "operation": op.get("operation")})
    return f"{op.get('operation')} failed: {err}"
