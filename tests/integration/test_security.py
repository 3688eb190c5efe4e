"""What a user's request can reach: SQL that would read the host, credentials and where they must not appear."""
from __future__ import annotations

import base64
import http.server
import json
import threading
import uuid

import pytest
from rocksdict import AccessType, Rdict

from harness import Client, WorkerProcess, read_everything, wait_until
from test_loads import produce_raw

TOKEN = "host-secret-" + uuid.uuid4().hex  # the content of a file SQL must never read
READ_T = {"super_user": False, "sec": {"tables": {
    "t": {"read": True, "insert": False, "update": False, "delete": False, "attribute_permissions": []}}}}


@pytest.fixture(scope="module")
def worker(module_settings, tmp_path_factory):
    process = WorkerProcess(module_settings, tmp_path_factory.mktemp("logs") / "worker.log").start()
    admin = process.client
    admin.ok({"operation": "create_table", "database": "sec", "table": "t", "primary_key": "id"})
    admin.ok({"operation": "insert", "database": "sec", "table": "t",
              "records": [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}]})
    admin.ok({"operation": "add_role", "role": "reads_t", "permission": READ_T})
    admin.ok({"operation": "add_user", "role": "reads_t", "username": "tess", "password": "tess-pw", "active": True})
    yield process
    process.stop()


@pytest.fixture(scope="module")
def host_file(module_settings):
    """A file in an allowed directory (a worker may read it for csv_file_load, but never for SQL)."""
    path = module_settings.allowed_dirs[0] / "host-secret.csv"
    path.write_text(f"secret\n{TOKEN}\n")
    return path


def as_(worker, who: str) -> Client:
    return worker.client if who == "admin" else Client(worker.client.url, "tess:tess-pw")


HOST_SQL = [
    "SELECT t1.id, x.content FROM sec.t t1, LATERAL read_text('{f}') x",
    "SELECT * FROM sec.t, read_csv('{f}') x",
    "SELECT * FROM sec.t JOIN read_text('{f}') x ON true",
    "SELECT t.id, (SELECT content FROM read_text('{f}')) AS c FROM sec.t t",
    "SELECT * FROM sec.t WHERE id IN (SELECT 1 FROM read_blob('{f}'))",
    "SELECT * FROM sec.t t1 JOIN LATERAL (SELECT * FROM read_text('{f}')) z ON true",
    "SELECT * FROM sec.t, query('SELECT * FROM read_text(''{f}'')') q",
    "SELECT id, read_text('{f}') AS c FROM sec.t",
    "COPY sec.t TO '{d}/copied.csv'",
    "COPY sec.t FROM '{f}'",
    "ATTACH '{d}/attached.db' AS x",
    "DETACH x",
    "PRAGMA database_list",
    "SET enable_external_access = true",
    "RESET memory_limit",
    "INSTALL httpfs",
    "LOAD httpfs",
    "CALL pragma_version()",
    "EXPORT DATABASE '{d}/exported'",
    "CREATE TABLE sec.copy AS SELECT * FROM sec.t",
    "DROP TABLE sec.t",
    "SELECT getenv('HOME') AS h FROM sec.t",
    "SELECT current_setting('temp_directory') AS s FROM sec.t",
    "SELECT * FROM sec.t WHERE name = getvariable('x')",
]


@pytest.mark.parametrize("who", ["tess", "admin"])
def test_sql_cannot_reach_the_host(worker, host_file, who):
    client = as_(worker, who)
    for statement in HOST_SQL:
        answer = client.op({"operation": "sql", "sql": statement.format(f=host_file, d=host_file.parent)})
        assert answer.status == 400 and set(answer.body) == {"error"}, (statement, answer)
        assert TOKEN not in json.dumps(answer.body) and "root:" not in json.dumps(answer.body), statement
    leftovers = {p.name for p in host_file.parent.iterdir()} & {"copied.csv", "attached.db", "exported"}
    assert not leftovers
    # ordinary SQL is untouched: joins, subqueries, grouping, ordering
    assert client.ok({"operation": "sql", "sql": "SELECT a.id, b.name FROM sec.t a JOIN sec.t b ON a.id = b.id "
                                                  "WHERE a.id IN (SELECT id FROM sec.t WHERE id > 1) ORDER BY a.id"}) \
        == [{"id": 2, "name": "two"}]
    assert client.ok({"operation": "sql", "sql": "SELECT COUNT(*) AS n, MAX(id) AS top FROM sec.t"}) == [
        {"n": 2, "top": 2}]


def test_an_attribute_name_is_data_not_sql(worker):
    """The final stage's own statements name the attributes; a quote in a name must not end the string."""
    admin = worker.client
    admin.ok({"operation": "create_table", "database": "sec", "table": "q", "primary_key": "id"})
    admin.ok({"operation": "insert", "database": "sec", "table": "q",
              "records": [{"id": 1, "it's": "quoted", "x': 'JSON'}) --": 1}, {"id": 2}]})
    assert admin.ok({"operation": "sql", "sql": "SELECT id, `it's` FROM sec.q ORDER BY id DESC"}) == [
        {"id": 2, "it's": None}, {"id": 1, "it's": "quoted"}]


@pytest.mark.parametrize("who", ["tess", "admin"])
def test_an_export_through_such_sql_ends_in_error(worker, host_file, who):
    client = as_(worker, who)
    job = client.run_job({"operation": "export_local", "format": "json", "path": str(host_file.parent),
                          "filename": f"leak-{who}", "search_operation": {
                              "operation": "sql", "sql": f"SELECT t1.id, x.content FROM sec.t t1, "
                                                         f"LATERAL read_text('{host_file}') x"}})
    assert job["status"] == "ERROR" and "LATERAL" in job["message"] and TOKEN not in json.dumps(job), job
    assert not (host_file.parent / f"leak-{who}.json").exists()


def basic(auth: bytes) -> str:
    return "Basic " + base64.b64encode(auth).decode()


def test_a_password_with_a_nul_appended_is_not_the_password(worker):
    """scrypt pads its HMAC key with zero bytes: "password" and "password\\0" must still differ."""
    for auth in (b"admin:password\0", b"admin:password\0\0", b"tess:tess-pw\0"):
        answer = worker.client.raw(b'{"operation":"user_info"}', auth=basic(auth))
        assert answer.status == 401 and answer.body == {"error": "Login failed"}, auth
    assert worker.client.raw(b'{"operation":"user_info"}', auth=basic(b"admin:password")).status == 200
    for op in ({"operation": "add_user", "role": "reads_t", "username": "nul", "password": "a\0b", "active": True},
               {"operation": "alter_user", "username": "tess", "password": "tess-pw\0"}):
        answer = worker.client.op(op)
        assert answer.status == 400 and "NUL" in answer.body["error"], answer
    assert Client(worker.client.url, "tess:tess-pw").op({"operation": "user_info"}).status == 200


# ---- credentials a load is given ---------------------------------------------------------------------------
PASSWORD = "url-pw-" + uuid.uuid4().hex  # in a URL's user part: must never appear outside `operations`
DOGS = b"id,name\n1,rex\n2,fido\n"


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers /dogs.csv (only with alice's password when ``locked``), redirects /away and /here; remembers
    the headers of every request."""
    seen: list = []
    elsewhere = ""

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 - the http.server API
        Recorder.seen.append((self.server.server_address[0], self.path, dict(self.headers)))
        if self.path in ("/away", "/here"):
            self.send_response(302)
            self.send_header("Location", f"{Recorder.elsewhere}/dogs.csv" if self.path == "/away" else "/dogs.csv")
            self.end_headers()
            return
        expected = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
        if self.path == "/locked.csv" and self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.end_headers()
            return
        self.send_response(200 if self.path in ("/dogs.csv", "/locked.csv") else 404)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(DOGS)))
        self.end_headers()
        self.wfile.write(DOGS)


@pytest.fixture(scope="module")
def servers():
    """Two real HTTP servers on two loopback addresses (two hosts for the redirect's purposes)."""
    here = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    there = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Recorder)
    for httpd in (here, there):
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
    Recorder.elsewhere = f"http://127.0.0.2:{there.server_address[1]}"
    yield f"http://127.0.0.1:{here.server_address[1]}"
    for httpd in (here, there):
        httpd.shutdown()


def url_load(worker, url, **extra):
    return worker.client.run_job({"operation": "csv_url_load", "database": "sec", "table": "dogs", "csv_url": url,
                                  **extra})


@pytest.fixture(scope="module")
def dogs(worker):
    worker.client.ok({"operation": "create_table", "database": "sec", "table": "dogs", "primary_key": "id"})


def test_credential_headers_are_not_forwarded_to_another_host(worker, servers, dogs):
    headers = {"Authorization": "Bearer tok-" + PASSWORD, "Cookie": "s=" + PASSWORD,
               "Proxy-Authorization": "Basic " + PASSWORD, "X-Trace": "kept"}
    Recorder.seen.clear()
    assert url_load(worker, f"{servers}/away", passthrough_headers=headers)["status"] == "COMPLETE"
    assert url_load(worker, f"{servers}/here", passthrough_headers=headers)["status"] == "COMPLETE"
    [first, elsewhere, second, same_host] = Recorder.seen
    assert first[1] == "/away" and first[2]["Authorization"] == headers["Authorization"]
    assert elsewhere[0] == "127.0.0.2" and elsewhere[2]["X-Trace"] == "kept"
    assert not {"Authorization", "Cookie", "Proxy-Authorization"} & set(elsewhere[2]), elsewhere
    assert second[1] == "/here" and same_host[0] == "127.0.0.1"
    assert same_host[2]["Authorization"] == headers["Authorization"]  # same origin: kept


def test_a_password_in_a_url_appears_nowhere(worker, servers, dogs, module_settings):
    host = servers.split("//")[1]
    loaded = url_load(worker, f"http://alice:{PASSWORD}@{host}/locked.csv", action="upsert")
    assert loaded["message"] == "successfully loaded 2 of 2 records", loaded
    failed = url_load(worker, f"http://alice:{PASSWORD}@{host}/missing.csv")
    assert failed["status"] == "ERROR" and f"http://alice:***@{host}/missing.csv" in failed["message"], failed
    garbage = json.dumps({"operation": "csv_url_load", "database": "sec", "table": "dogs",
                          "csv_url": f"http://alice:{PASSWORD}@{host}/x.csv"})[:-3].encode()
    produce_raw(module_settings, garbage, str(uuid.uuid4()).encode())
    dead = wait_until(lambda: read_everything(module_settings, "operations-dlq"), "dead letter")
    assert b"alice:***@" in dead[-1]
    secret = PASSWORD.encode()
    for name in ("job-status", "jobs", "operations-dlq", "export-results", "catalog", "auth"):
        for value in read_everything(module_settings, name):
            assert secret not in value, name
    answers = worker.client.ok({"operation": "search_jobs_by_start_date", "from_date": "2000-01-01",
                                "to_date": "2999-01-01"})
    assert answers and PASSWORD not in json.dumps(answers)
    assert PASSWORD not in worker.log_text()
    state = Rdict(str(module_settings.data_dir / "state"), access_type=AccessType.read_only())
    try:
        assert not [key for key, value in state.items() if secret in bytes(key) + bytes(value)]
    finally:
        state.close()
