"""S3 access for import_from_s3, export_to_s3 and snapshots: clients, and errors a person can act on.

Credentials come from the operation's ``s3`` object when it has them, else
from the worker's environment (the standard AWS chain: variables, profile,
instance or task role). They are used to build the client and forgotten:
nothing here logs them or puts them in an error.
"""
from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .config import Settings
from .errors import PipelineError


class S3Error(PipelineError):
    """An S3 request that failed: S3's own text first (Harper passes it through), then what and where."""


#: S3 is asked again on a dropped connection; a cut that outlasts these fails the job
_RETRIES = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=60)


def client(s3: dict[str, Any], settings: Settings):
    kwargs: dict[str, Any] = {"region_name": s3.get("region") or None, "config": _RETRIES}
    endpoint = s3.get("endpoint_url") or settings.s3_endpoint_url
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    if s3.get("aws_access_key_id") and s3.get("aws_secret_access_key"):
        kwargs["aws_access_key_id"] = s3["aws_access_key_id"]
        kwargs["aws_secret_access_key"] = s3["aws_secret_access_key"]
    return boto3.session.Session().client("s3", **kwargs)


def error(err: Exception, bucket: str, key: str) -> S3Error:
    """An S3 failure as the job's message: S3's own text first (Harper passes it through), then what and where."""
    if isinstance(err, ClientError):
        details = err.response.get("Error", {})
        code = details.get("Code", "Unknown")
        text = details.get("Message") or str(code)
        return S3Error(f"{text} (S3 error {code} for bucket '{bucket}', key '{key}')")
    if isinstance(err, BotoCoreError):
        return S3Error(f"{err} (S3 bucket '{bucket}', key '{key}')")
    return S3Error(f"{err} (S3 bucket '{bucket}', key '{key}')")


S3_ERRORS = (ClientError, BotoCoreError)
