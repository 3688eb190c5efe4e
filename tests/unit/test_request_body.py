"""Spooled request bodies on their own: finding csv_data_load's data in one, and decoding it in blocks."""
from __future__ import annotations

import json
import random

import orjson
import pytest

from pipeline import request_body
from pipeline.request_body import Body
from pipeline.sources import data as data_source
from pipeline.sources.data import SpooledData
from pipeline.sources.exceptions import DataError


def spooled(tmp_path, raw: bytes) -> Body:
    path = tmp_path / "body.json"
    path.write_bytes(raw)
    return Body(len(raw), path=path)


def decoded(data: SpooledData) -> bytes:
    return b"".join(data.blocks())


ALPHABET = ['a', ',', '"', '\\', '\n', '\r', '\t', 'é', '€', '😀', '\u2028', '\x01', '/', 'u', 'd8']


@pytest.mark.parametrize("seed", range(12))
def test_data_decoded_in_blocks_is_the_whole_string(tmp_path, monkeypatch, seed):
    """Blocks cut anywhere (inside escapes, surrogate pairs, UTF-8 characters) decode as the whole does."""
    rnd = random.Random(seed)
    monkeypatch.setattr(data_source, "DATA_BLOCK", rnd.choice([1, 2, 3, 5, 7, 13]))
    monkeypatch.setattr(request_body, "_SCAN_BLOCK", rnd.choice([1, 2, 3, 4, 11]))
    text = "".join(rnd.choice(ALPHABET) for _ in range(400))
    raw = json.dumps({"operation": "csv_data_load", "table": "t", "data": text},
                     ensure_ascii=rnd.random() < 0.5).encode()
    body = spooled(tmp_path, raw)
    op = request_body.parse(body, max_json_body_bytes=1)
    assert isinstance(op["data"], SpooledData) and op["table"] == "t"
    assert decoded(op["data"]) == text.encode()


@pytest.mark.parametrize("raw, found", [
    (b'{"data": "x,y\\n1,2", "operation": "csv_data_load"}', "x,y\n1,2"),
    (b'{"operation":"csv_data_load","d\\u0061ta":"a\\"b"}', 'a"b'),  # an escaped key is still "data"
    (b'{"operation":"csv_data_load","data":"first","data":"last"}', "last"),  # the last one counts, as in a parse
    (b'{"operation":"csv_data_load","x":{"data":"inner"},"data":"outer","y":["data","z"]}', "outer"),
    (b'{"operation":"csv_data_load","k":"\\\\","data":"\\\\\\"q"}', '\\"q'),
])
@pytest.mark.parametrize("scan_block", [1, 3, 1 << 20])
def test_the_data_string_is_found_as_a_parse_would_read_it(tmp_path, monkeypatch, raw, found, scan_block):
    monkeypatch.setattr(request_body, "_SCAN_BLOCK", scan_block)
    op = request_body.parse(spooled(tmp_path, raw), max_json_body_bytes=1)
    assert decoded(op["data"]).decode() == found
    assert {k: v for k, v in op.items() if k != "data"} == {k: v for k, v in orjson.loads(raw).items() if k != "data"}


@pytest.mark.parametrize("raw", [
    b'{"operation":"csv_data_load","data":"last","data":null}',  # the data is null, not the string before it
    b'{"operation":"insert","data":"a string, but not a csv_data_load"}',
    b'{"operation":"csv_data_load","data":["not", "a string"]}',
])
def test_anything_else_is_parsed_whole(tmp_path, raw):
    assert request_body.parse(spooled(tmp_path, raw), max_json_body_bytes=1024) == orjson.loads(raw)
    with pytest.raises(request_body.BodyTooLarge, match="PIPELINE_MAX_JSON_BODY_BYTES"):
        request_body.parse(spooled(tmp_path, raw), max_json_body_bytes=10)


@pytest.mark.parametrize("raw", [
    b'{"operation":"csv_data_load","data":"a\\qb"}',  # a bad escape
    b'{"operation":"csv_data_load","data":"a\x01b"}',  # a raw control character
    b'{"operation":"csv_data_load","data":"\\ud800x"}',  # a lone surrogate
])
def test_data_that_is_not_a_json_string_is_invalid_json(tmp_path, raw):
    op = request_body.parse(spooled(tmp_path, raw), max_json_body_bytes=1)
    with pytest.raises(DataError, match="Invalid JSON"):
        decoded(op["data"])


@pytest.mark.parametrize("raw", [
    b'{"operation":"csv_data_load","data":"never closed',
    b'{"operation":"csv_data_load","data":"x"} trailing',
    b'["operation","csv_data_load","data","x"]',
])
def test_a_broken_body_is_not_json(tmp_path, raw):
    assert request_body.parse(spooled(tmp_path, raw), max_json_body_bytes=1024) in (None, orjson.loads(raw)
                                                                                     if raw[:1] == b"[" else None)
