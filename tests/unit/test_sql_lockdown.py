"""SQL's final stage (DuckDB) on its own: locked once the rows are in, whatever statement reaches it."""
from __future__ import annotations

import duckdb
import pytest

from pipeline.query.final_stage import final_stage

TOKEN = "host-secret-final-stage"


def test_the_final_stage_reaches_no_file_and_no_setting(tmp_path):
    """DuckDB itself is locked once the rows are in, whatever statement reaches it."""
    secret = tmp_path / "secret.txt"
    secret.write_text(TOKEN)
    with final_stage([("t0", ["id", "it's"], [{"id": 1, "it's": "q"}])], "64MB") as connection:
        assert connection.execute("SELECT id, \"it's\" FROM t0").fetchall() == [(1, "q")]
        for statement in (f"SELECT * FROM read_text('{secret}')", f"SELECT * FROM read_csv('{secret}')",
                          f"COPY t0 TO '{tmp_path}/out.csv'", f"ATTACH '{tmp_path}/x.db' AS x",
                          "SET enable_external_access = true", "SET memory_limit = '8GB'",
                          "SET temp_directory = '/'", "INSTALL httpfs", "LOAD httpfs",
                          f"EXPORT DATABASE '{tmp_path}/exported'"):
            with pytest.raises(duckdb.Error):
                connection.execute(statement)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.txt"]
