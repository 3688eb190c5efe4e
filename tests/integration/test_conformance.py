"""The recorded conformance cases (answers of a real Harper 4.7), run against a real worker.

The cases are run by the conformance runner's own code (shared/conformance/run.py)
against the worker's Operations API; every bulk operation among them travels
the ``operations`` topic to the worker's intake, as a producer's would.
"""
from __future__ import annotations

import importlib.util
import json
import re
from types import SimpleNamespace

import pytest

from harness import CONFORMANCE, WorkerProcess

spec = importlib.util.spec_from_file_location("conformance_run", CONFORMANCE / "run.py")
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)

CASES = {c["name"]: c for c in json.loads((CONFORMANCE / "cases" / "bulk.json").read_text())}

#: the cases whose operations have landed
LANDED = [
    "csv_data_load inserts and types values",
    "csv_data_load default action is insert",
    "csv_file_load insert then upsert",
    "csv_file_load update skips missing ids",
    "csv_file_load missing file is an error",
    "csv_data_load into a missing table",
    "csv_data_load into a missing database",
    "csv_data_load with a bad action",
    "csv_data_load without data",
    "csv_data_load header only",
    "get_job of an unknown id",
    "export_local json from sql",
    "export_local csv from search_by_value",
    "export_local csv of all attributes",
    "export_local json from search_by_hash",
    "export_local csv from search_by_conditions",
    "export_local with an unknown format",
    "delete_records_before deletes older records",
    "delete_records_before keeps newer records",
    "csv_url_load loads over http",
    "csv_url_load of a missing url",
]


@pytest.fixture(scope="module")
def worker(module_settings, tmp_path_factory):
    process = WorkerProcess(module_settings, tmp_path_factory.mktemp("logs") / "worker.log").start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def http_base():
    return runner.serve_data((CONFORMANCE / "data").resolve())


@pytest.mark.parametrize("name", LANDED)
def test_case_matches_harper(name, worker, http_base):
    args = SimpleNamespace(target=worker.client.url, auth="admin:password", job_timeout=120.0,
                           data=(CONFORMANCE / "data"))
    trace = runner.run_case(CASES[name], args, http_base)
    golden_file = CONFORMANCE / "goldens" / (re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") + ".json")
    diff = runner.first_difference(json.loads(golden_file.read_text()), json.loads(json.dumps(trace)))
    assert not diff, f"{name}: {diff}\n{json.dumps(trace, indent=1)}\n{worker.log_text()[-3000:]}"
