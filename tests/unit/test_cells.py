"""Harper's cell typing (SPEC §3.2; DECISIONS: exact integers, JSON cells parsed in every load)."""
from __future__ import annotations

import pytest

from pipeline.cells import auto_cast, cast_json_deep, type_cell


@pytest.mark.parametrize("text, expected", [
    ("", ""), ("true", True), ("TRUE", True), ("false", False), ("FALSE", False),
    ("True", "True"), ("False", "False"), ("null", None), ("NULL", None), ("undefined", None), ("Null", "Null"),
    ("0", 0), ("-0", 0), ("+5", 5), ("5.", 5), ("5.0", 5), (".5", 0.5), ("0.5", 0.5), (" 12 ", 12),
    ("-007", -7), ("007", "007"), ("00", "00"), ("0x1F", "0x1F"), ("1e3", "1e3"), ("-3.5e2", "-3.5e2"),
    ("Infinity", "Infinity"), ("1,000", "1,000"), ("38.5", 38.5), ("-12", -12),
    ("9007199254740993", 9007199254740993), ("123456789012345678901234567890", 123456789012345678901234567890),
    ("2021-01-25", "2021-01-25"), ("2021-01-25T23:21:24+01:00", "2021-01-25T22:21:24.000Z"),
    ("2021-01-25T22:21:24.781Z", "2021-01-25T22:21:24.781Z"), ("hello", "hello"), ("-", "-"), (".", "."),
])
def test_auto_cast(text, expected):
    result = auto_cast(text)
    assert result == expected and type(result) is type(expected)


def test_json_cells_are_parsed_deeply_and_exactly():
    assert type_cell('{"a":[1,{"b":"[2]"}],"n":9007199254740993}') == {"a": [1, {"b": [2]}], "n": 9007199254740993}
    assert type_cell("[1, 2]") == [1, 2]
    assert type_cell("{not json}") == "{not json}"
    assert cast_json_deep(["[3]", {"x": "{}"}]) == [[3], {"x": {}}]
    assert type_cell("12") == 12 and type_cell("[") == "["
