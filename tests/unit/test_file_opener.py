"""csv_file_load's opener on its own: only a regular file under the allowed directories, never a wait."""
from __future__ import annotations

import contextlib
import os
import threading
import uuid

import pytest

from pipeline.contract.answers import not_a_regular_file
from pipeline.sources.exceptions import FileRefused
from pipeline.sources.file import open_regular_file


@pytest.fixture
def fifo(tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    path = allowed / f"fifo-{uuid.uuid4().hex[:6]}.csv"
    os.mkfifo(path)
    yield path
    with contextlib.suppress(OSError):  # a reader stuck in open() (the bug) gets its end of file
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    path.unlink()


def test_opening_checks_what_was_opened_without_waiting(fifo, tmp_path):
    """A path swapped after validation: a FIFO is refused at once, a link out of the allowed directories too."""
    outcome: list = []

    def attempt() -> None:
        try:
            open_regular_file(str(fifo), [fifo.parent])
        except FileRefused as err:
            outcome.append(str(err))
    opener = threading.Thread(target=attempt, daemon=True)
    opener.start()
    opener.join(10)
    assert outcome == [not_a_regular_file(str(fifo))]
    outside = tmp_path / "outside.csv"
    outside.write_text("id\n1\n")
    link = fifo.parent / f"link-{uuid.uuid4().hex[:6]}.csv"
    link.symlink_to(outside)
    try:
        with pytest.raises(FileRefused, match="PIPELINE_ALLOWED_DIRS"):
            open_regular_file(str(link), [fifo.parent])
    finally:
        link.unlink()
    with open_regular_file(str(outside), [tmp_path]) as stream:
        assert stream.read() == b"id\n1\n"
