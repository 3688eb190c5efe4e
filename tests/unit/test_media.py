"""The Operations API's media types on their own: reading bodies, choosing and writing the answer's type."""
from __future__ import annotations

from datetime import datetime, timezone

import cbor2
import msgpack
import pytest

from pipeline import media

OP = {"operation": "insert", "records": [{"id": 1, "name": "Zoë", "tags": ["a"], "n": 2.5, "ok": True, "x": None}]}


@pytest.mark.parametrize("content_type, body", [
    ("application/json", b'{"operation":"insert","records":[{"id":1,"name":"Zo\\u00eb","tags":["a"],"n":2.5,'
                         b'"ok":true,"x":null}]}'),
    (None, b'{"operation":"insert","records":[{"id":1,"name":"Zo\\u00eb","tags":["a"],"n":2.5,"ok":true,"x":null}]}'),
    ("application/x-msgpack", msgpack.packb(OP)),
    ("application/msgpack; charset=binary", msgpack.packb(OP)),
    ("application/cbor", cbor2.dumps(OP)),
])
def test_a_body_reads_the_same_in_every_media_type(content_type, body):
    assert media.decode(body, content_type) == OP


@pytest.mark.parametrize("content_type, body, needle", [
    ("application/x-msgpack", bytes.fromhex("ffffff"), "not valid MessagePack"),
    ("application/cbor", bytes.fromhex("ffffff"), "not valid CBOR"),
    ("application/cbor", cbor2.dumps({"operation": "x"}) + b"\x01", "1 bytes follow the value"),
    ("application/json", b"not json", "Invalid JSON."),
    ("application/x-msgpack", msgpack.packb({"operation": "x", "blob": b"\x00\x01"}), "type JSON has no form for"),
    ("application/cbor", cbor2.dumps({"operation": "x", "s": {1, 2}}), "type JSON has no form for"),
])
def test_a_body_that_cannot_be_read_is_refused_with_the_reason(content_type, body, needle):
    with pytest.raises(media.BodyError, match=needle):
        media.decode(body, content_type)


def test_dates_in_a_binary_body_become_the_text_harper_prints():
    moment = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    assert media.decode(cbor2.dumps({"at": moment}), "application/cbor") == {"at": "2026-01-02T03:04:05.678Z"}
    assert media.decode(msgpack.packb({"at": moment}, datetime=True), "application/x-msgpack") == {
        "at": "2026-01-02T03:04:05.678Z"}


@pytest.mark.parametrize("accept, chosen", [
    (None, "application/json"), ("", "application/json"), ("*/*", "application/json"),
    ("application/x-msgpack", "application/x-msgpack"), ("application/cbor", "application/cbor"),
    ("text/csv", "text/csv"), ("text/html,application/xhtml+xml,*/*;q=0.8", "application/json"),
    ("text/csv;q=0.5, application/cbor;q=0.9", "application/cbor"), ("application/cbor;q=0, text/csv", "text/csv"),
    ("text/html", None), ("application/msgpack", None), ("text/csv;q=0", None),
])
def test_the_answer_is_written_in_the_first_acceptable_type_by_quality(accept, chosen):
    assert media.negotiate(accept) == chosen


def test_answers_round_trip_through_the_binary_types():
    answer = [{"id": 1, "big": 9007199254740993, "nested": {"a": [1, None]}}]
    assert msgpack.unpackb(media.encode(answer, media.MSGPACK)) == answer
    assert cbor2.loads(media.encode(answer, media.CBOR)) == answer
    huge = {"n": 2 ** 70}  # beyond MessagePack's integers: a float there, exact in CBOR and JSON
    assert msgpack.unpackb(media.encode(huge, media.MSGPACK)) == {"n": float(2 ** 70)}
    assert cbor2.loads(media.encode(huge, media.CBOR)) == huge
    assert media.encode(huge, media.JSON).strip() == b'{"n":1180591620717411303424}'


def test_csv_answers_have_every_records_attributes():
    rows = [{"id": 1, "name": "a"}, {"id": 2, "extra": [1, 2]}]
    assert media.encode(rows, media.CSV) == b'"id","name","extra"\n1,"a",\n2,,"[1,2]"'
    assert media.encode({"error": "Table 'a.b' does not exist"}, media.CSV) == \
        b'"error"\n"Table \'a.b\' does not exist"'
    assert media.encode([], media.CSV) == b""
