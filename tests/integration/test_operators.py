"""What operators and users see, as they see it: Harper's /health, readiness, /metrics scraped during and after
a load, and the live jobs page driven in a real headless Chromium. One worker for the module."""
from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import shutil
import threading
import time
import urllib.error
from pathlib import Path

import pytest

from harness import REPO, Client, WorkerProcess, http, job_events, wait_until

ROWS = 20_000
SECRET = "hunter2-s3cret"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def get(url: str, auth: str | None = "admin:password") -> tuple[int, dict, bytes]:
    return http(url, auth=auth, timeout=30)


@pytest.fixture(scope="module")
def started(module_settings, tmp_path_factory):
    """The worker, and every readiness answer seen from its start until it was ready."""
    # small checkpoints: a load of ROWS rows checkpoints a known number of times
    settings = dataclasses.replace(module_settings, batch_size=1000, checkpoint_batches=2)
    process = WorkerProcess(settings, tmp_path_factory.mktemp("ops") / "worker.log").launch()
    base = f"http://{settings.http_host}:{settings.http_port}"
    seen: list[tuple[int, dict]] = []
    try:
        deadline = time.monotonic() + 60
        while not seen or seen[-1][0] != 200:
            assert process.proc.poll() is None, process.log_text()[-3000:]
            assert time.monotonic() < deadline, f"never ready: {seen[-3:]}\n{process.log_text()[-3000:]}"
            try:
                status, _, body = get(base + "/health/ready", auth=None)
                seen.append((status, json.loads(body)))
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.02)  # not listening yet
        process.wait_until_answering()  # operations too, now
        yield process, base, seen
    finally:
        process.stop()


@pytest.fixture(scope="module")
def worker(started):
    return started[0]


@pytest.fixture(scope="module")
def base(started):
    return started[1]


@pytest.fixture(scope="module")
def ratings(worker, tmp_path_factory) -> Path:
    worker.client.ok({"operation": "create_table", "database": "ops", "table": "ratings", "primary_key": "id"})
    path = tmp_path_factory.mktemp("csv") / "ratings.csv"
    with open(path, "w") as out:
        out.write("id,user,book,rating\n")
        for i in range(ROWS):
            out.write(f"{i},user-{i % 977},book-{i % 313},{i % 5 + 1}\n")
    return path


def scrape(base: str) -> dict[str, float]:
    """/metrics as {series: value}, the series named with its labels except ``worker``."""
    status, headers, body = get(base + "/metrics", auth=None)
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=")
    values = {}
    for line in body.decode().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        series, value = line.rsplit(" ", 1)
        if "{" in series:
            name, labels = series[:-1].split("{", 1)
            kept = [pair for pair in labels.split(",") if not pair.startswith("worker=")]
            series = name + ("{" + ",".join(sorted(kept)) + "}" if kept else "")
        values[series] = float(value)
    return values


def delta(after: dict, before: dict, series: str) -> float:
    return after.get(series, 0.0) - before.get(series, 0.0)


def test_health_answers_as_harper_does(base):
    status, headers, body = get(base + "/health", auth=None)
    assert (status, headers["Content-Type"], body) == (200, "text/plain; charset=utf-8", b"HarperDB is running.")


def test_readiness_is_503_with_a_reason_until_the_worker_is_ready(started):
    _, base, seen = started
    statuses = [status for status, _ in seen]
    assert statuses[0] == 503 and statuses[-1] == 200 and set(statuses) == {503, 200}
    assert statuses == sorted(statuses, key=lambda s: s == 200)  # never back to 503 once ready
    waiting = seen[0][1]
    assert waiting["ready"] is False and "catching up with the catalog, auth and jobs topics" in waiting["reason"]
    assert seen[-1][1]["checks"] == {"views_caught_up": True, "joined_group": True}
    assert scrape(base)["harper_pipeline_ready"] == 1.0


def test_metrics_add_up_to_the_jobs_exact_counts(worker, base, ratings):
    client = worker.client
    before = scrape(base)
    job_id = client.ok({"operation": "csv_file_load", "database": "ops", "table": "ratings",
                        "file_path": str(ratings)})["job_id"]
    during = []
    while (record := client.ok({"operation": "get_job", "id": job_id})[0])["status"] == "IN_PROGRESS":
        during.append(scrape(base))
    assert record["message"] == f"successfully loaded {ROWS} of {ROWS} records"
    after = scrape(base)
    parsed = "harper_pipeline_rows_parsed_total{operation=\"csv_file_load\"}"
    written = "harper_pipeline_rows_written_total{command=\"WRITE_BATCH\"}"
    assert during  # the job is IN_PROGRESS from the answer that names it: scraped at least once while running
    for sample in during:  # a scrape during the load sees part of it, never more than the whole
        assert 0 <= delta(sample, before, parsed) <= ROWS and 0 <= delta(sample, before, written) <= ROWS
    assert delta(after, before, parsed) == ROWS
    assert delta(after, before, written) == ROWS
    assert delta(after, before, "harper_pipeline_source_bytes_total{operation=\"csv_file_load\"}") \
        == ratings.stat().st_size
    assert delta(after, before, "harper_pipeline_checkpoint_wait_seconds_count") == ROWS // 1000 // 2
    applied = delta(after, before, "harper_pipeline_batch_apply_seconds_count{command=\"WRITE_BATCH\"}")
    split = next(ev for ev in job_events(worker.settings, job_id) if ev["event"] == "SPLIT_DONE")
    assert applied == sum(split["shard_commands"])  # one apply per command the splitter sent
    assert after["harper_pipeline_jobs{status=\"COMPLETE\",type=\"csv_file_load\"}"] >= 1
    lags = {k: v for k, v in after.items() if k.startswith("harper_pipeline_shard_lag{")}
    assert len(lags) == worker.settings.shard_partitions and set(lags.values()) == {0.0}
    assert all(v >= 0 for k, v in after.items() if k.startswith("harper_pipeline_shard_applied_offset{"))
    assert after["harper_pipeline_rocksdb_memory_bytes{kind=\"memtables\"}"] > 0

    export = client.run_job({"operation": "export_local", "format": "csv", "path": str(ratings.parent),
                             "filename": "exported", "search_operation": {"operation": "sql",
                                                                          "sql": "SELECT * FROM ops.ratings"}})
    assert export["status"] == "COMPLETE", export
    exported = scrape(base)
    assert delta(exported, after, "harper_pipeline_rows_exported_total{format=\"csv\",operation=\"export_local\"}") \
        == ROWS
    # the Grafana dashboard queries only series the worker has
    dashboard = (REPO / "docs" / "grafana-dashboard.json").read_text()
    served = {series.split("{")[0] for series in exported}
    assert set(re.findall(r"harper_pipeline_\w+", dashboard)) <= served


def test_secrets_reach_neither_the_metrics_nor_the_jobs_page(worker, base):
    job = worker.client.run_job({"operation": "csv_url_load", "database": "ops", "table": "ratings",
                                 "csv_url": f"http://alice:{SECRET}@127.0.0.1:9/ratings.csv"})
    assert job["status"] == "ERROR"
    for path in ("/metrics", "/jobs/list"):
        _, _, body = get(base + path)
        assert SECRET.encode() not in body and b"alice" not in body.replace(b"alice:***", b"")
    listed = json.loads(get(base + "/jobs/list")[2])["jobs"]
    shown = next(j for j in listed if j["id"] == job["id"])
    assert set(shown) <= {"id", "type", "status", "user", "created_datetime", "start_datetime", "end_datetime",
                          "message", "result", "progress"}  # no bookkeeping, no request


def test_the_jobs_page_needs_a_login_and_shows_other_users_only_their_own_jobs(worker, base):
    admin = worker.client
    status, headers, _ = get(base + "/jobs", auth=None)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic ")
    assert get(base + "/jobs/events", auth="admin:wrong")[0] == 401
    status, headers, body = get(base + "/jobs")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"/jobs/static/jobs.js" in body
    admin.ok({"operation": "add_role", "role": "loader", "permission": {"super_user": False, "ops": {"tables": {
        "ratings": {"read": True, "insert": True, "update": True, "delete": False, "attribute_permissions": []}}}}})
    admin.ok({"operation": "add_user", "role": "loader", "username": "lena", "password": "lena-pw", "active": True})
    lena = Client(admin.url, "lena:lena-pw")
    started = lena.ok({"operation": "csv_data_load", "database": "ops", "table": "ratings",
                       "data": "id,rating\n900001,5\n"})
    assert lena.job(started["job_id"])["status"] == "COMPLETE"
    mine = json.loads(get(base + "/jobs/list", auth="lena:lena-pw")[2])["jobs"]
    assert [j["id"] for j in mine] == [started["job_id"]]
    everyone = json.loads(get(base + "/jobs/list")[2])["jobs"]
    assert started["job_id"] in {j["id"] for j in everyone} and len(everyone) > 1


def _chromium():
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.skip(f"no Chromium: the jobs page's test drives {CHROMIUM} through {CHROMEDRIVER} "
                    "(Debian: apt-get install chromium chromium-driver; .ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900",
                "--disable-gpu", "--no-first-run"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def test_the_jobs_page_shows_a_load_live_to_100_percent_in_chromium(worker, base, ratings, tmp_path):
    driver = _chromium()
    try:
        # the credentials a browser would send after its login prompt, on every request (EventSource included)
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {
            "Authorization": "Basic " + base64.b64encode(b"admin:password").decode()}})
        driver.get(base + "/jobs")
        wait_until(lambda: driver.find_element("id", "live").get_attribute("data-state") == "live",
                   "live feed", timeout=30)
        # a job submitted while the page is open: it appears, runs and ends without a reload
        job_id = worker.client.ok({"operation": "csv_file_load", "database": "ops", "table": "ratings",
                                   "action": "upsert", "file_path": str(ratings)})["job_id"]
        row = f'tr[data-job-id="{job_id}"]'
        message = f"successfully loaded {ROWS} of {ROWS} records"

        seen = set()

        def finished():
            state = driver.execute_script("""
                const row = document.querySelector(arguments[0]);
                return row && {status: row.querySelector('.status').textContent,
                               value: row.querySelector('progress').getAttribute('value'),
                               message: row.querySelector('td.message').textContent,
                               rate: row.querySelector('td.rate').textContent};""", row)
            if state:
                seen.add(state["status"])
            return state if state and state["value"] == "100" and state["message"] == message else None
        state = wait_until(finished, "the job's row at 100% with its message", timeout=120)
        assert state["status"] == "COMPLETE" and state["rate"] != ""
        assert "IN_PROGRESS" in seen  # drawn running, then finished, by the live feed: the page was never reloaded
        assert driver.find_elements("css selector", row)  # still there, and not drawn twice
        assert len(driver.find_elements("css selector", row)) == 1
        finished_row = driver.find_element("css selector", row)
        finished_row.click()
        detail = driver.find_element("id", "detail")
        assert detail.is_displayed() and message in detail.text and job_id in detail.text
        driver.save_screenshot(str(tmp_path / "jobs-page.png"))
        if os.environ.get("PIPELINE_SCREENSHOT"):  # docs/jobs-page.png is made this way
            shutil.copy(tmp_path / "jobs-page.png", os.environ["PIPELINE_SCREENSHOT"])
        assert (tmp_path / "jobs-page.png").stat().st_size > 0
        assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()
