"""csv_url_load against a real local HTTP server: success, Harper's messages, and every refusal."""
from __future__ import annotations

import dataclasses
import http.server
import threading
import time

import pytest

from harness import CONFORMANCE, WorkerProcess
from pipeline.kafka.broker import free_port

DOGS = (CONFORMANCE / "data" / "dogs.csv").read_bytes()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, status: int, body: bytes, content_type: str = "text/csv; charset=utf-8", **headers) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(headers.pop("length", len(body))))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - the http.server API
        path = self.path
        if path == "/dogs.csv":
            self.send(200, DOGS)
        elif path == "/semi.csv":
            self.send(200, b"id;name\n101;semi\n102;colon\n", "text/plain")
        elif path == "/moved":
            self.send(302, b"", Location="/dogs.csv")
        elif path == "/to-file":
            self.send(302, b"", Location="file:///etc/passwd")
        elif path == "/to-bad-port":
            self.send(302, b"", Location="http://127.0.0.1:99999/x.csv")
        elif path == "/to-bad-host":  # urlparse reads "254%5D" as the port
            self.send(302, b"", Location="http://%5B::ffff:169.254.169.254%5D/x")
        elif path == "/json":
            self.send(200, b"{}", "application/json")
        elif path == "/empty.csv":
            self.send(200, b"")
        elif path == "/big.csv":
            self.send(200, b"id\n" + b"1\n" * 5000)
        elif path == "/slow.csv":
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"id\n1\n")
            self.wfile.flush()
            time.sleep(4)
        elif path == "/cut.csv":
            self.send(200, b"id\n1\n2\n", length=1000)  # promises more than it sends, then closes
            self.close_connection = True
        else:
            self.send(404, b"no", "text/plain")


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def worker(module_settings, tmp_path_factory):
    settings = dataclasses.replace(module_settings, url_idle_timeout=1.5, url_max_bytes=4000)
    process = WorkerProcess(settings, tmp_path_factory.mktemp("logs") / "worker.log").start()
    process.client.ok({"operation": "create_table", "database": "web", "table": "dog", "primary_key": "id"})
    yield process
    process.stop()


def url_load(worker, url, **extra):
    return worker.client.run_job({"operation": "csv_url_load", "database": "web", "table": "dog", "csv_url": url,
                                  **extra})


def test_loads_streams_redirects_and_detects_the_delimiter(worker, server):
    assert url_load(worker, f"{server}/dogs.csv")["message"] == "successfully loaded 10 of 10 records"
    assert url_load(worker, f"{server}/moved", action="upsert")["message"] == "successfully loaded 10 of 10 records"
    assert url_load(worker, f"{server}/semi.csv")["message"] == "successfully loaded 2 of 2 records"
    names = {r["name"] for r in worker.client.ok({"operation": "sql", "sql": "SELECT name FROM web.dog"}) if r["name"]}
    assert {"semi", "colon"} <= names


@pytest.mark.parametrize("path, message", [
    ("/missing.csv", "CSV Load failed from URL: {url}, status code: 404, message: Not Found"),
    ("/json", "CSV Load failed from URL: {url}, unsupported content type: application/json"),
    ("/empty.csv", "CSV Load failed from URL: {url}, no csv found at url"),
    ("/to-file", "only http and https URLs can be loaded, not 'file'"),
    ("/to-bad-port", "CSV Load failed from URL: http://127.0.0.1:99999/x.csv, the URL is not valid: Port out of range"),
    ("/to-bad-host", "CSV Load failed from URL: http://%5B::ffff:169.254.169.254%5D/x, the URL is not valid: Port "),
    ("/big.csv", "larger than the limit of 4000 bytes"),
    ("/slow.csv", "did not answer in time"),
    ("/cut.csv", "the download failed"),
])
def test_failures_end_the_job_with_a_clear_message(worker, server, path, message):
    url = f"{server}{path}"
    job = url_load(worker, url)
    assert job["status"] == "ERROR" and message.format(url=url) in job["message"], job


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/x.csv", "http://%5B::ffff:169.254.169.254%5D/x",
                                 "http://[::1/x.csv", "http://:80/x.csv"])
def test_a_url_whose_host_or_port_does_not_parse_is_refused_before_any_job(worker, url):
    answer = worker.client.op({"operation": "csv_url_load", "database": "web", "table": "dog", "csv_url": url})
    assert answer.status == 400 and answer.body == {"error": "'csv_url' must be a valid url"}, answer


def test_non_http_schemes_are_refused(worker):
    job = url_load(worker, "ftp://127.0.0.1/dogs.csv")
    assert job["status"] == "ERROR" and "only http and https" in job["message"]


def test_private_addresses_are_refused_unless_allowed(module_settings, server, tmp_path):
    strict = dataclasses.replace(module_settings, url_allowed_networks=(), app_id=module_settings.app_id + "-strict",
                                 topic_prefix=module_settings.topic_prefix + "strict.", data_dir=tmp_path / "var",
                                 http_port=free_port())
    process = WorkerProcess(strict, tmp_path / "worker.log").start()
    try:
        process.client.ok({"operation": "create_table", "database": "web", "table": "dog", "primary_key": "id"})
        job = url_load(process, f"{server}/dogs.csv")
        assert job["status"] == "ERROR" and "the address 127.0.0.1 is not public" in job["message"]
    finally:
        process.stop()
