"""Harper's CSV (json2csv, JavaScript's numbers) written a chunk and a column at a time (no worker needed; the
exports end to end are in tests/integration/test_exports.py)."""
from __future__ import annotations

import io

import pytest

from pipeline import codec
from pipeline.sinks.formats import TEXT_CHUNK, csv_cell, js_number, write_csv, write_csv_texts

CREATED = 1795866374308.0627
#: Harper 4.7's export_local CSV of these rows (search_by_value of *, its own database on the oracle), but for
#: two big integers: Harper rounds them to a double (12345678901234567000, 123456789012345680, -9007199254740992),
#: a bug we do not copy (codec: integers are kept exact)
ODD = [
    {"id": 1, "__createdtime__": CREATED, "__updatedtime__": CREATED, "a": "plain", "b": 1e21, "c": -0.0,
     "d": 12345678901234567890, "e": {"x": [1, "two", None], "y": 'q"uote'}, "f": None, "g": True,
     "h": 'line\nbreak, comma "q"', "i": 1.5e-7, "j": 0.1, "k": 123456789012345678},
    {"id": 2, "__createdtime__": CREATED, "__updatedtime__": CREATED, "a": "", "b": 1e300, "c": 0,
     "d": -9007199254740993, "e": [], "f": False, "g": "2024-01-02T03:04:05.000Z", "h": "tab\there", "i": 100,
     "j": 1e16, "k": "ünï €"},
    {"id": 3, "__createdtime__": CREATED, "__updatedtime__": CREATED, "b": 1.0, "c": 2.5, "e": {},
     "h": "cr\r\nlf", "i": -1e-5, "j": 1e-6, "k": [{"a": {"b": None}}]},
]
HARPERS = (
    '"id","__createdtime__","__updatedtime__","a","b","c","d","e","f","g","h","i","j","k"\n'
    '1,1795866374308.0627,1795866374308.0627,"plain",1e+21,0,12345678901234567890,'
    '"{""x"":[1,""two"",null],""y"":""q\\""uote""}",,true,"line\nbreak, comma ""q""",1.5e-7,0.1,123456789012345678\n'
    '2,1795866374308.0627,1795866374308.0627,"",1e+300,0,-9007199254740993,"[]",false,"2024-01-02T03:04:05.000Z",'
    '"tab\there",100,10000000000000000,"ünï €"\n'
    '3,1795866374308.0627,1795866374308.0627,,1,2.5,,"{}",,,"cr\r\nlf",-0.00001,0.000001,"[{""a"":{""b"":null}}]"'
).encode()


def written(rows, writer=write_csv, **kwargs) -> bytes:
    out = io.BytesIO()
    writer(rows, out, **kwargs)
    return out.getvalue()


def test_odd_values_as_harper_writes_them():
    assert written(ODD) == HARPERS
    # the same from the rows' stored JSON texts (a big integer's exact form among them)
    assert written([codec.dumps(row) for row in ODD], write_csv_texts) == HARPERS


@pytest.mark.parametrize("value, text", [
    # as node's String(n) writes them
    (1e21, "1e+21"), (1.5e21, "1.5e+21"), (9.5e20, "950000000000000000000"), (1e20, "100000000000000000000"),
    (1.2345678901234567e20, "123456789012345670000"), (1e16, "10000000000000000"), (-0.0, "0"), (0.0, "0"),
    (1.0, "1"), (-3.0, "-3"), (0.1, "0.1"), (1e-6, "0.000001"), (1e-7, "1e-7"), (-1.5e-7, "-1.5e-7"),
    (0.00001234, "0.00001234"), (1.23e-18, "1.23e-18"), (5e-324, "5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"), (float("nan"), "null"), (float("-inf"), "null"),
])
def test_numbers_are_written_as_javascript_writes_them(value, text):
    assert js_number(value) == text


def test_columns_of_one_type_and_mixed_ones_across_chunks_are_written_cell_for_cell():
    rows = []
    for i in range(2 * TEXT_CHUNK + 7):
        rows.append({"id": i, "s": f'say "{i}"\n' if i % 5 else "", "mixed": [None, 3, 2.0, "x", True, {"a": i}][i % 6],
                     "nul": "a\0b" if i == TEXT_CHUNK + 1 else "ab", **({"late": i} if i % 2 else {})})
    lines = written(rows).decode().split("\n")
    assert lines[0] == '"id","s","mixed","nul"'  # the first row's attributes
    expected = [",".join(csv_cell(row.get(c)) for c in ("id", "s", "mixed", "nul")) for row in rows]
    assert "\n".join(lines[1:]) == "\n".join(expected)
    assert lines[1:4] == ['0,"",,"ab"', '1,"say ""1""', '",3,"ab"']  # a line break stays in its quoted cell
    assert expected[2] == '2,"say ""2""\n",2,"ab"' and expected[4] == '4,"say ""4""\n",true,"ab"'
    assert expected[TEXT_CHUNK + 1] == '1001,"say ""1001""\n","{""a"":1001}","a\0b"'
    assert written([codec.dumps(row) for row in rows], write_csv_texts) == written(rows)


def test_given_columns_one_column_none_and_no_rows():
    rows = [{"a": 1, "b": "x"}, {"b": "y"}]
    assert written(rows, columns=["b"]) == b'"b"\n"x"\n"y"'
    assert written(rows, columns=["b", "zz"]) == b'"b","zz"\n"x",\n"y",'
    assert written(rows, columns=[]) == b"\n\n"
    assert written([]) == b""
