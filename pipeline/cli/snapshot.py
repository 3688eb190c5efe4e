"""``harper-pipeline snapshot`` and ``restore``: checkpoints of a worker's shard stores, in a directory or S3."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..config import Settings
from .client import ApiClient, ok_or_exit


def cmd_snapshot(settings: Settings, args: argparse.Namespace) -> None:
    from ..shard.snapshot import parse_s3_url

    api = ApiClient(settings)
    if not api.is_up():
        sys.exit(f"harper-pipeline: no Operations API answers on {api.url}: a snapshot is taken by a running worker")
    body: dict = {"operation": "snapshot", **({"name": args.name} if args.name else {})}
    if args.target.startswith("s3://"):
        bucket, prefix = parse_s3_url(args.target)
        body["s3"] = {"bucket": bucket, "key": prefix}  # credentials: the worker's own (environment, IAM role)
    else:
        body["path"] = str(Path(args.target).resolve())
    print(json.dumps(ok_or_exit(*api.call(body))))


def cmd_restore(settings: Settings, args: argparse.Namespace) -> None:
    from .. import s3
    from ..shard.snapshot import parse_s3_url, restore, restore_from_s3

    try:
        if args.snapshot.startswith("s3://"):
            shards = restore_from_s3(s3.client({}, settings), args.snapshot, settings.data_dir)
        else:
            shards = restore(Path(args.snapshot), settings.data_dir)
    except FileNotFoundError as err:
        sys.exit(f"harper-pipeline: {err}")
    except s3.S3_ERRORS as err:
        sys.exit(f"harper-pipeline: {s3.error(err, *parse_s3_url(args.snapshot))}")
    print(json.dumps({"restored_shards": shards, "data_dir": str(settings.data_dir)}))
