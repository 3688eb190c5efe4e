"""Harper's cell typing (SPEC §3.2; DECISIONS: exact integers, JSON cells parsed in every load)."""
from __future__ import annotations

import pytest

from pipeline.cells import auto_cast, cast_json_deep, type_cell, type_column


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


_ODD = ["1", "-0", "123456789012345678", "1234567890123456789", "007", "-007", "+5", " 5", "1e3", "5.", "5.0",
        "0.5", "00.5", "-0.0", "1.0000000000000000001", "12345678901234567890.0", "123456789012345.5",
        "1234567890123456.5", "NaN", "null", "", "x", '{"a":1}', "[1,2", "2020-01-01T00:00:00Z", "٣", "²",
        "true", "False", "0x10", ".5", "-.5", "1.5e2", "99999999999999999999", "Infinity"]


@pytest.mark.parametrize("column", [
    _ODD, ["1", "2", "-3"], ["1.5", "2", "-0.0", "0.25"], ["1.5", "2.25"], ["true", "FALSE"], ["a", "", "b c"],
    ["a", "null"], ["12345", "01234", ""], ["NULL", ""] * 10, ["[1]", "x"] * 10, ["x"], [],
    ["1", "2"] * 5 + ["12345678901234567890"], ["0.1", "2.0"] * 4, ["04914", "82657", "0", "00", "7"] * 3,
])
def test_a_column_is_typed_as_its_cells_are(column):
    typed = list(type_column(column))
    expected = [type_cell(cell) for cell in column]
    assert typed == expected and [type(v) for v in typed] == [type(v) for v in expected]
    lists = [v for v in typed if isinstance(v, list)]
    assert len({id(v) for v in lists}) == len(lists)  # parsed JSON is never shared between records
