"""The jobs page's view of job records: progress from the fold's bookkeeping, who sees which job, what is shown."""
from __future__ import annotations

from pipeline.auth.directory import Principal
from pipeline.jobs.progress import progress
from pipeline.web.feed import WINDOW_MS, recent

NOW = 1_800_000_000_000
ADMIN = Principal("admin", {"super_user": True})
LENA = Principal("lena", {"super_user": False})


def test_a_load_has_no_fraction_until_split_then_the_share_of_commands_applied():
    splitting = {"status": "IN_PROGRESS", "_written": 3000, "_resume": {"parsed": 4000}}
    assert progress(splitting).fraction is None and progress(splitting).rows_parsed == 4000
    split = {"status": "IN_PROGRESS", "_written": 6000, "_parsed": 10_000, "_expected": [4, 6], "_applied": [4, 1]}
    assert progress(split).fraction == 0.5 and progress(split).split_done and progress(split).rows_parsed == 10_000
    assert progress({**split, "status": "COMPLETE"}).fraction == 1.0
    assert progress({**split, "status": "ERROR"}).fraction is None
    assert progress({"status": "IN_PROGRESS", "_expected": [0, 0]}).fraction == 1.0


def test_other_users_see_only_their_own_jobs_and_no_bookkeeping():
    records = [
        {"id": "a", "user": "admin", "status": "COMPLETE", "created_datetime": NOW - 1000, "_resume": {"x": 1}},
        {"id": "b", "user": "lena", "status": "ERROR", "created_datetime": NOW - 500, "message": "bad"},
        {"id": "old", "user": "lena", "status": "COMPLETE", "created_datetime": NOW - WINDOW_MS - 1},
        {"id": "running", "user": "lena", "status": "IN_PROGRESS", "created_datetime": NOW - 3 * WINDOW_MS},
    ]
    assert [j["id"] for j in recent(ADMIN, records, NOW)] == ["b", "a", "running"]
    assert [j["id"] for j in recent(LENA, records, NOW)] == ["b", "running"]
    shown = recent(ADMIN, records, NOW)[1]
    assert "_resume" not in shown and shown["progress"]["fraction"] == 1.0
