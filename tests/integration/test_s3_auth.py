"""S3 credentials that S3 refuses: a moto server that checks signatures and IAM policies, in its own process."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import boto3
import pytest

from harness import WorkerProcess
from pipeline.kafka.broker import free_port

BUCKET = "guarded"
ALLOW_S3 = json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """moto with IAM enforced after the five unauthenticated calls that create its two users."""
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "5"}, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            break
        except (urllib.error.URLError, ConnectionError):
            assert server.poll() is None and time.monotonic() < deadline, "moto did not start"
            time.sleep(0.1)
    iam = boto3.client("iam", endpoint_url=url, aws_access_key_id="setup", aws_secret_access_key="setup",
                       region_name="us-east-1")
    keys = {}
    for name in ("loader", "outsider"):
        iam.create_user(UserName=name)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        keys[name] = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"],
                      "region": "us-east-1"}
    iam.put_user_policy(UserName="loader", PolicyName="s3", PolicyDocument=ALLOW_S3)
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                      **{k: v for k, v in keys["loader"].items() if k != "region"})
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="dogs.csv", Body=b"id,name\n1,rex\n2,fido\n")
    yield url, s3, keys
    server.terminate()
    server.wait(10)


@pytest.fixture(scope="module")
def worker(module_settings, endpoint, tmp_path_factory):
    settings = dataclasses.replace(module_settings, s3_endpoint_url=endpoint[0])
    process = WorkerProcess(settings, tmp_path_factory.mktemp("logs") / "worker.log").start()
    process.client.ok({"operation": "create_table", "database": "s3", "table": "dog", "primary_key": "id"})
    yield process
    process.stop()


def load(worker, credentials, key="dogs.csv"):
    return worker.client.run_job({"operation": "import_from_s3", "database": "s3", "table": "dog",
                                  "s3": {**credentials, "bucket": BUCKET, "key": key}})


def export(worker, credentials, key):
    return worker.client.run_job({"operation": "export_to_s3", "format": "csv",
                                  "s3": {**credentials, "bucket": BUCKET, "key": key},
                                  "search_operation": {"operation": "sql", "sql": "SELECT * FROM s3.dog"}})


def test_the_right_credentials_load_and_export(worker, endpoint):
    _, s3, keys = endpoint
    assert load(worker, keys["loader"])["message"] == "successfully loaded 2 of 2 records"
    assert export(worker, keys["loader"], "out/ok")["status"] == "COMPLETE"
    assert b'"rex"' in s3.get_object(Bucket=BUCKET, Key="out/ok.csv")["Body"].read()


@pytest.mark.parametrize("who, change, code", [
    ("loader", {"aws_secret_access_key": "not-the-secret-123"}, "SignatureDoesNotMatch"),
    ("loader", {"aws_access_key_id": "AKIANOSUCHKEY000"}, "InvalidAccessKeyId"),
    ("outsider", {}, "AccessDenied"),
])
def test_refused_credentials_end_the_job_with_s3s_reason_and_no_secret(worker, endpoint, who, change, code):
    _, s3, keys = endpoint
    credentials = {**keys[who], **change}
    for job in (load(worker, credentials), export(worker, credentials, f"out/{code}")):
        assert job["status"] == "ERROR" and f"S3 error {code} for bucket '{BUCKET}'" in job["message"], job
        assert credentials["aws_secret_access_key"] not in json.dumps(job)
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"out/{code}")
    assert listed["KeyCount"] == 0  # a refused export leaves nothing behind
    assert all(credentials["aws_secret_access_key"] not in line for line in worker.log_text().splitlines())
