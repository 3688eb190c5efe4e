"""import_from_s3 and export_to_s3 against a real S3 endpoint (moto's server, over HTTP, through boto3)."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import uuid

import boto3
import fastavro
import pytest
from moto.server import ThreadedMotoServer

from harness import CONFORMANCE, S3Proxy, WorkerProcess, read_everything
from pipeline.kafka.broker import free_port

SECRET = "s3cr3t-" + uuid.uuid4().hex  # must never appear in events, job records, answers or logs
KEYS = {"aws_access_key_id": "AKIATESTKEY", "aws_secret_access_key": SECRET, "region": "us-east-1"}
BUCKET = "pipeline-test"


@pytest.fixture(scope="module")
def endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id="x", aws_secret_access_key="y", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.upload_file(str(CONFORMANCE / "data" / "dogs.csv"), BUCKET, "in/dogs.csv")
    s3.upload_file(str(CONFORMANCE / "data" / "dogs.json"), BUCKET, "in/dogs.json")
    s3.put_object(Bucket=BUCKET, Key="in/broken.json", Body=b'[{"id": 1}, {"id": ')
    yield url, s3
    server.stop()


@pytest.fixture(scope="module")
def worker(module_settings, endpoint, tmp_path_factory):
    settings = dataclasses.replace(module_settings, s3_endpoint_url=endpoint[0], s3_part_bytes=5 * 1024 ** 2)
    # the worker's own credentials, for operations that leave them out
    own = {"AWS_ACCESS_KEY_ID": "AKIAWORKER", "AWS_SECRET_ACCESS_KEY": "worker-secret"}
    process = WorkerProcess(settings, tmp_path_factory.mktemp("logs") / "worker.log", env=own).start()
    process.client.ok({"operation": "create_table", "database": "s3", "table": "dog", "primary_key": "id"})
    yield process
    process.stop()


def s3_op(operation, **fields):
    return {"operation": operation, "database": "s3", "table": "dog", **fields}


def test_import_csv_and_json(worker):
    client = worker.client
    job = client.run_job(s3_op("import_from_s3", s3={**KEYS, "bucket": BUCKET, "key": "in/dogs.csv"}))
    assert job["message"] == "successfully loaded 10 of 10 records"
    job = client.run_job(s3_op("import_from_s3", s3={**KEYS, "bucket": BUCKET, "key": "in/dogs.json"}))
    assert job["message"] == "successfully loaded 3 of 3 records"
    [json_dog] = client.ok({"operation": "search_by_hash", "database": "s3", "table": "dog", "hash_values": [101],
                            "get_attributes": ["owner", "tags", "good"]})
    assert json_dog == {"owner": {"name": "Ann", "city": "Denver"}, "tags": ["a", "b"], "good": True}


def test_credentials_from_the_workers_environment(worker):
    job = worker.client.run_job(s3_op("import_from_s3", action="upsert",
                                      s3={"bucket": BUCKET, "key": "in/dogs.csv", "region": "us-east-1"}))
    assert job["message"] == "successfully loaded 10 of 10 records"


@pytest.mark.parametrize("s3, message", [
    ({"bucket": BUCKET, "key": "in/missing.csv"},
     "The specified key does not exist. (S3 error NoSuchKey for bucket 'pipeline-test', key 'in/missing.csv')"),
    ({"bucket": "no-such-bucket", "key": "in/dogs.csv"}, "S3 error NoSuchBucket for bucket 'no-such-bucket'"),
    ({"bucket": BUCKET, "key": "in/broken.json"}, "the file is not a JSON array of records"),
    ({"bucket": BUCKET, "key": "in/dogs.csv", "endpoint_url": "http://127.0.0.1:9"},
     "(S3 bucket 'pipeline-test', key 'in/dogs.csv')"),
])
def test_import_failures_name_the_object(worker, s3, message):
    job = worker.client.run_job(s3_op("import_from_s3", s3={**KEYS, **s3}))
    assert job["status"] == "ERROR" and message in job["message"], job
    assert SECRET not in json.dumps(job)


def test_a_key_without_a_known_extension_is_refused(worker):
    answer = worker.client.op(s3_op("import_from_s3", s3={**KEYS, "bucket": BUCKET, "key": "in/dogs.xlsx"}))
    assert (answer.status, answer.body) == (
        400, {"error": "S3 key must include one of the following valid file extensions - '.csv', '.json'"})


@pytest.mark.parametrize("fmt", ["json", "csv", "ndjson", "avro"])
def test_export_every_format_and_read_it_back(worker, endpoint, fmt):
    client = worker.client
    client.run_job(s3_op("import_from_s3", s3={**KEYS, "bucket": BUCKET, "key": "in/dogs.csv"}))
    search = {"operation": "sql", "sql": "SELECT id, dog_name, age FROM s3.dog WHERE age > 4"}
    expected = client.ok(search)
    job = client.run_job({"operation": "export_to_s3", "format": fmt, "search_operation": search,
                          "s3": {**KEYS, "bucket": BUCKET, "key": f"out/older.{fmt}"}})
    assert job["status"] == "COMPLETE", job
    assert job["result"]["Key"] == f"out/older.{fmt}.{fmt}" and job["result"]["ETag"]  # Harper appends the extension
    body = endpoint[1].get_object(Bucket=BUCKET, Key=f"out/older.{fmt}.{fmt}")["Body"].read()
    if fmt == "json":
        rows = json.loads(body)
    elif fmt == "ndjson":
        rows = [json.loads(line) for line in body.splitlines()]
    elif fmt == "csv":
        rows = [{k: json.loads(v) if k != "dog_name" else v for k, v in r.items()}
                for r in csv.DictReader(io.StringIO(body.decode()))]
    else:
        rows = list(fastavro.reader(io.BytesIO(body)))
    assert rows == expected


def test_a_large_export_uses_a_multipart_upload(worker, endpoint):
    client = worker.client
    client.ok({"operation": "create_table", "database": "s3", "table": "wide", "primary_key": "id"})
    filler = "x" * 200
    for start in range(0, 30_000, 10_000):
        client.ok({"operation": "insert", "database": "s3", "table": "wide",
                   "records": [{"id": i, "text": filler} for i in range(start, start + 10_000)]})
    job = client.run_job({"operation": "export_to_s3", "format": "json", "s3": {**KEYS, "bucket": BUCKET, "key": "big"},
                          "search_operation": {"operation": "sql", "sql": "SELECT * FROM s3.wide"}})
    assert job["status"] == "COMPLETE", job
    head = endpoint[1].head_object(Bucket=BUCKET, Key="big.json")
    assert head["ContentLength"] > 5 * 1024 ** 2
    assert head["ETag"].strip('"').endswith("-2")  # two parts: 5 MiB and the rest
    assert len(json.loads(endpoint[1].get_object(Bucket=BUCKET, Key="big.json")["Body"].read())) == 30_000


def test_a_failed_upload_leaves_no_object(worker, endpoint):
    job = worker.client.run_job({"operation": "export_to_s3", "format": "json",
                                 "s3": {**KEYS, "bucket": "no-such-bucket", "key": "out/x"},
                                 "search_operation": {"operation": "sql", "sql": "SELECT * FROM s3.dog"}})
    assert job["status"] == "ERROR" and "NoSuchBucket" in job["message"]
    assert endpoint[1].list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_the_secret_never_appears(worker):
    """Every event, job record, answer and log line of this module's worker, and the dead-letter topic."""
    client = worker.client
    garbage = json.dumps(s3_op("import_from_s3", s3={**KEYS, "bucket": BUCKET, "key": "in/dogs.csv"}))[:-5].encode()
    produced = worker.settings
    from test_loads import produce_raw
    produce_raw(produced, garbage, str(uuid.uuid4()).encode())
    dead = []
    for _ in range(100):
        dead = read_everything(produced, "operations-dlq")
        if dead:
            break
    assert dead and b"***" in dead[0]
    for name in ("job-status", "jobs", "operations-dlq", "export-results", "catalog"):
        for value in read_everything(produced, name):
            assert SECRET.encode() not in value, name
    jobs = client.ok({"operation": "search_jobs_by_start_date", "from_date": "2000-01-01", "to_date": "2999-01-01"})
    assert jobs and SECRET not in json.dumps(jobs)
    assert SECRET not in worker.log_text()


@pytest.fixture
def proxy(endpoint):
    cutting = S3Proxy(endpoint[0])
    yield cutting
    cutting.close()


def test_a_download_cut_midway_ends_the_job_naming_the_object(worker, endpoint, proxy):
    rows = "".join(f"{i},{'y' * 100}\n" for i in range(20_000))
    endpoint[1].put_object(Bucket=BUCKET, Key="in/long.csv", Body=("id,text\n" + rows).encode())
    proxy.down = 500_000
    job = worker.client.run_job(s3_op("import_from_s3", s3={**KEYS, "bucket": BUCKET, "key": "in/long.csv",
                                                            "endpoint_url": proxy.url}))
    assert job["status"] == "ERROR", job
    assert f"bucket '{BUCKET}', key 'in/long.csv'" in job["message"] and SECRET not in json.dumps(job)
    proxy.down = None  # the worker is unharmed: the same load through the same proxy now succeeds
    job = worker.client.run_job(s3_op("import_from_s3", action="upsert",
                                      s3={**KEYS, "bucket": BUCKET, "key": "in/long.csv", "endpoint_url": proxy.url}))
    assert job["message"] == "successfully loaded 20000 of 20000 records"


def test_an_upload_cut_midway_leaves_no_object(worker, endpoint, proxy):
    client = worker.client
    client.ok({"operation": "create_table", "database": "s3", "table": "cut", "primary_key": "id"})
    client.ok({"operation": "insert", "database": "s3", "table": "cut",
               "records": [{"id": i, "text": "z" * 300} for i in range(20_000)]})
    proxy.up = 1_000_000  # smaller than one 5 MiB part: every part upload, retries included, is cut
    job = client.run_job({"operation": "export_to_s3", "format": "json",
                          "s3": {**KEYS, "bucket": BUCKET, "key": "out/cut", "endpoint_url": proxy.url},
                          "search_operation": {"operation": "sql", "sql": "SELECT * FROM s3.cut"}})
    assert job["status"] == "ERROR", job
    assert f"bucket '{BUCKET}', key 'out/cut.json'" in job["message"] and SECRET not in json.dumps(job)
    assert endpoint[1].list_objects_v2(Bucket=BUCKET, Prefix="out/cut")["KeyCount"] == 0
    assert endpoint[1].list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []  # aborted
