"""The Operations API's media types through a real worker: MessagePack and CBOR request bodies and answers,
CSV answers for ``Accept: text/csv``, Harper's 406, and bodies that cannot be read."""
from __future__ import annotations

import csv
import io

import cbor2
import msgpack
import pytest

from harness import WorkerProcess, http


@pytest.fixture(scope="module")
def worker(module_settings, tmp_path_factory):
    process = WorkerProcess(module_settings, tmp_path_factory.mktemp("logs") / "worker.log").start()
    admin = process.client
    admin.ok({"operation": "create_table", "database": "media", "table": "items", "primary_key": "id"})
    admin.ok({"operation": "insert", "database": "media", "table": "items", "records": [
        {"id": 1, "name": "Item 1, \"quoted\"", "tags": ["a", "b"]}, {"id": 2, "name": "Ítem 2", "price": 2.5}]})
    yield process
    process.stop()


def post(worker, body: bytes, content_type: str | None = None, accept: str | None = None,
         auth: str | None = "admin:password") -> tuple[int, dict[str, str], bytes]:
    headers = {name: value for name, value in (("Content-Type", content_type), ("Accept", accept)) if value}
    return http(worker.client.url, body, headers, auth)


SEARCH = {"operation": "search_by_hash", "database": "media", "table": "items", "hash_values": [1, 2],
          "get_attributes": ["id", "name", "tags", "price"]}


def expected(worker) -> list[dict]:
    return sorted(worker.client.ok(SEARCH), key=lambda r: r["id"])


@pytest.mark.parametrize("kind, decode", [
    ("application/x-msgpack", lambda b: msgpack.unpackb(b, raw=False)),
    ("application/cbor", cbor2.loads),
])
def test_messagepack_and_cbor_requests_and_answers(worker, kind, decode):
    encode = msgpack.packb if "msgpack" in kind else cbor2.dumps
    status, headers, body = post(worker, encode(SEARCH), kind, kind)
    assert status == 200 and headers["Content-Type"] == kind
    assert sorted(decode(body), key=lambda r: r["id"]) == expected(worker)
    # a write in one, answered in JSON: it lands as the same values
    status, _, body = post(worker, encode({"operation": "upsert", "database": "media", "table": "items",
                                           "records": [{"id": 3, "name": "ünï", "n": 2 ** 40, "ok": True,
                                                        "nested": {"x": [1.5, None]}}]}), kind, "application/json")
    assert status == 200 and b'"upserted 1 of 1 records"' in body
    [three] = worker.client.ok({"operation": "search_by_hash", "database": "media", "table": "items",
                                "hash_values": [3], "get_attributes": ["name", "n", "ok", "nested"]})
    assert three == {"name": "ünï", "n": 2 ** 40, "ok": True, "nested": {"x": [1.5, None]}}
    # an error is answered in what was asked for, with Harper's status
    status, headers, body = post(worker, encode({"operation": "describe_table", "database": "media",
                                                 "table": "nope"}), kind, kind)
    assert (status, headers["Content-Type"], decode(body)) == (404, kind, {"error": "Table 'media.nope' does not exist"})
    # a body that is not what its Content-Type says is a 400 naming it, and the worker carries on
    status, headers, body = post(worker, b"\xff\xff\xff", kind)
    name = "MessagePack" if "msgpack" in kind else "CBOR"
    assert status == 400 and headers["Content-Type"] == "application/json"
    assert body.startswith(b'{"error":"The request body is not valid ' + name.encode())
    status, _, body = post(worker, encode(["describe_all"]), kind)
    assert status == 400 and b"must be a map of the operation's fields" in body
    assert len(expected(worker)) == 2  # the worker answers on


def test_a_binary_value_is_refused_rather_than_stored_as_something_else(worker):
    status, _, body = post(worker, cbor2.dumps({"operation": "insert", "database": "media", "table": "items",
                                                "records": [{"id": 9, "blob": b"\x00\x01"}]}), "application/cbor")
    assert status == 400 and b"a value of a type JSON has no form for (bytes)" in body
    assert worker.client.ok({"operation": "search_by_hash", "database": "media", "table": "items",
                             "hash_values": [9], "get_attributes": ["*"]}) == []


def test_accept_text_csv_answers_a_download_of_the_rows(worker):
    status, headers, body = post(worker, b'{"operation":"sql","sql":"SELECT id, name, tags FROM media.items '
                                         b'WHERE id < 3 ORDER BY id"}', "application/json", "text/csv")
    assert status == 200 and headers["Content-Type"] == "text/csv; charset=utf-8"
    assert headers["Content-Disposition"] == 'attachment; filename="data.csv"'
    assert list(csv.reader(io.StringIO(body.decode("utf-8")))) == [
        ["id", "name", "tags"], ["1", 'Item 1, "quoted"', '["a","b"]'], ["2", "Ítem 2", ""]]
    # quality decides among what was offered
    status, headers, _ = post(worker, b'{"operation":"describe_all"}', "application/json",
                              "text/html, text/csv;q=0.5, application/cbor;q=0.9")
    assert (status, headers["Content-Type"]) == (200, "application/cbor")


def test_an_accept_nothing_can_answer_is_harpers_406_before_credentials(worker):
    for auth in ("admin:password", None):
        status, headers, body = post(worker, b'{"operation":"describe_all"}', "application/json", "text/xml", auth)
        assert (status, headers["Content-Type"]) == (406, "application/json")
        assert b'"error":"Not Acceptable"' in body and b"supported types include: application/json" in body
    # without credentials, an acceptable request is still refused (401), in the type it asked for
    status, headers, body = post(worker, b'{"operation":"describe_all"}', "application/json", "application/cbor",
                                 auth=None)
    assert (status, headers["Content-Type"]) == (401, "application/cbor") and "error" in cbor2.loads(body)
