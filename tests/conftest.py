"""Shared fixtures: one real embedded broker for the session; settings of one's own for each test."""
from __future__ import annotations

import dataclasses
import tempfile
import uuid
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from pipeline import config
from pipeline.kafka.broker import EmbeddedBroker, free_port

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    with EmbeddedBroker(log_dir=tmp_path_factory.mktemp("broker")) as running:
        yield running


def make_settings(broker: EmbeddedBroker, data_dir: Path, *allowed: Path) -> config.Settings:
    """Settings of a pipeline of its own on the shared broker: its own topics, group and data."""
    tag = uuid.uuid4().hex[:8]
    return dataclasses.replace(
        config.load(), bootstrap_servers=broker.bootstrap, app_id=f"hp-test-{tag}", topic_prefix=f"t{tag}.",
        data_dir=data_dir, shard_partitions=4, operations_partitions=2,
        allowed_dirs=(*allowed, (SHARED / "conformance" / "data").resolve(), Path(tempfile.gettempdir()).resolve()),
        http_port=free_port(),
        admin_username="admin", admin_password="password", rebalance_timeout=3.0,
        url_allowed_networks=("127.0.0.0/8",),  # the tests' HTTP servers are on loopback
        worker_processes=1)  # `up` in one process unless a test asks for more (tests/integration/test_processes.py)


@pytest.fixture
def settings(broker, tmp_path):
    return make_settings(broker, tmp_path / "var", tmp_path)


@pytest.fixture(scope="module")
def module_settings(broker, tmp_path_factory):
    base = tmp_path_factory.mktemp("module")
    return make_settings(broker, base / "var", base)


@pytest.fixture
def s3_endpoint(monkeypatch):
    """A real S3 endpoint (moto's server) with a bucket; workers and the CLI get credentials from the environment."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASNAPSHOT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "snapshot-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    url = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=url).create_bucket(Bucket="backups")
    yield url
    server.stop()
