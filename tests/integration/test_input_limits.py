"""Inputs that are not ordinary files or sizes: FIFOs and sockets, huge bodies, wide files, huge cells, deep nesting."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import urllib.request
import uuid

import pytest

from harness import WorkerProcess
from pipeline.contract.answers import not_a_regular_file
from test_loads import produce_raw


@pytest.fixture(scope="module")
def worker(module_settings, tmp_path_factory):
    # one shard: every record of a write goes into the same shard's commands
    settings = dataclasses.replace(module_settings, shard_partitions=1)
    process = WorkerProcess(settings, tmp_path_factory.mktemp("logs") / "worker.log").start()
    process.client.ok({"operation": "create_table", "database": "lim", "table": "t", "primary_key": "id"})
    yield process
    process.stop()


@pytest.fixture
def fifo(module_settings):
    path = module_settings.allowed_dirs[0] / f"fifo-{uuid.uuid4().hex[:6]}.csv"
    os.mkfifo(path)
    yield path
    with contextlib.suppress(OSError):  # a reader stuck in open() (the bug) gets its end of file
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    path.unlink()


def answers_quickly(worker) -> bool:
    """The API answers another operation within a few seconds (urllib's own timeout, no sleep)."""
    request = urllib.request.Request(worker.client.url, data=b'{"operation":"describe_all"}', method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": worker.client.auth})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status == 200


def test_a_fifo_or_a_socket_is_refused_and_the_worker_keeps_answering(worker, fifo, module_settings):
    answer = worker.client.op({"operation": "csv_file_load", "database": "lim", "table": "t", "file_path": str(fifo)})
    assert answer.status == 400 and answer.body == {"error": not_a_regular_file(str(fifo))}
    assert answers_quickly(worker)
    sock_path = module_settings.allowed_dirs[0] / "sock.csv"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(sock_path))
        answer = worker.client.op({"operation": "csv_file_load", "database": "lim", "table": "t",
                                   "file_path": str(sock_path)})
    sock_path.unlink()
    assert answer.status == 400 and "not a regular file" in answer.body["error"]


def test_a_fifo_that_reaches_the_job_ends_it_in_error(worker, fifo):
    """Produced straight to the topic, the path is only checked by the job: it ends ERROR, nothing freezes."""
    job_id = str(uuid.uuid4())
    produce_raw(worker.settings, json.dumps({"operation": "csv_file_load", "database": "lim", "table": "t",
                                             "file_path": str(fifo)}).encode(), job_id.encode())
    assert answers_quickly(worker)
    job = worker.client.job(job_id, timeout=30)
    assert job["status"] == "ERROR" and "not a regular file" in job["message"], job
