"""The package as a user installs it: a wheel built from this checkout, in a virtual environment of its own.

The wheel must carry everything the pipeline reads at run time (the topic
definitions and Avro schemas, ``py.typed``): ``harper-pipeline up`` runs from
a directory outside the checkout, so nothing can be found beside the sources.
The dependencies are the project's own environment's, through a ``.pth``
file added after the wheel is installed, which keeps the test fast and off
the network.
"""
from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from harness import REPO, WorkerProcess
from pipeline.kafka.broker import free_port


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A venv holding the wheel built from this checkout; its directory."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"  # a copy: building writes build/ and *.egg-info beside the sources
    shutil.copytree(REPO / "pipeline", source / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "--wheel-dir", str(base / "dist"), str(source)], check=True, cwd=base)
    [wheel] = (base / "dist").glob("harper_pipeline-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "--quiet", str(wheel)], check=True, cwd=base)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_the_installed_wheel_runs_the_pipeline_from_anywhere(installed, settings, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    where = subprocess.run([str(installed / "bin" / "python"), "-c", "import pipeline; print(pipeline.__file__)"],
                           check=True, capture_output=True, text=True, cwd=outside).stdout
    assert where.startswith(str(installed)), where  # the wheel's copy, not this checkout
    package = Path(where.strip()).parent
    assert (package / "py.typed").exists() and (package / "schemas" / "topics.json").exists()
    assert {p.name for p in (package / "web" / "static").iterdir()} >= {"jobs.html", "jobs.js", "jobs.css"}

    settings = dataclasses.replace(settings, data_dir=tmp_path / "var")
    dogs = tmp_path / "dogs.csv"
    dogs.write_text("id,name,age\n1,Penny,7\n2,Kato,\n3,Alby,2\n")
    worker = WorkerProcess(settings, tmp_path / "up.log", env={"PIPELINE_EMBEDDED_PORT": str(free_port())},
                           command="up", program=[str(installed / "bin" / "harper-pipeline")], cwd=outside)
    worker.start()
    try:
        client = worker.client
        client.ok({"operation": "create_table", "database": "wheel", "table": "dog", "primary_key": "id"})
        loaded = client.run_job({"operation": "csv_file_load", "database": "wheel", "table": "dog",
                                 "file_path": str(dogs)})
        assert loaded["message"] == "successfully loaded 3 of 3 records"
        rows = client.ok({"operation": "sql", "sql": "SELECT id, name, age FROM wheel.dog"})
        assert rows == [{"id": 1, "name": "Penny", "age": 7}, {"id": 2, "name": "Kato", "age": ""},
                        {"id": 3, "name": "Alby", "age": 2}]
    finally:
        worker.stop()
