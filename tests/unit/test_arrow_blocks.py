"""The Arrow path of a parse process (:mod:`pipeline.parsing.arrow`) against the csv module path, on random blocks.

Every block the Arrow path accepts must come back exactly as the csv module
path makes it (rows' bytes, shards, offsets, lines, names, encoding); every
other block it must decline, never answer differently.
"""
from __future__ import annotations

import random

import pytest

from pipeline.parsing import arrow
from pipeline.parsing.arrow import arrow_block
from pipeline.parsing.block import ROWS, BlockRequest, csv_block
from pipeline.shard.routing import table_crc

TABLE = table_crc("dev", "arrow")
MAX = 8 * 1024 ** 2

NUMBERS = ["0", "-0", "007", "-007", "1e3", "1E3", "+5", " 5 ", "5 ", "5.", "5.0", "1.10", "1.5", "-2.25", ".5",
           "0.5", "0.0001", "0.00001", "0.000001", "123456789012345", "1234567890.12345", "12345678901234.5",
           "9007199254740993", "123456789012345678", "12345678901234567890",
           "-9223372036854775808", "1.7976931348623157e308", "3.14159265358979", "0.1", "100", "-1", "42",
           "00", "0.", "-.5", "1_000", "١٢٣", "٣-01-01T00:00:00Z", "12 Main St", "1a", "2x-01-01T00:00:00.000Z1"]
WORDS = ["true", "TRUE", "True", "false", "FALSE", "False", "null", "NULL", "Null", "undefined", "NaN", "nan",
         "Infinity", "-Infinity", "inf", ""]
DATES = ["2024-01-02T03:04:05Z", "2024-01-02T03:04:05.678+02:00", "2024-13-02T03:04:05Z", "2024-01-02",
         "2024-01-02T03:04Z", "1999-12-31T23:59:59.999999-05:00"]
JSON = ['{"b":1,"a":[1,2]}', "[1,2,3]", "[]", "{}", "{not json}", "[1,", '{"a":{"b":{"c":null}}}']
#: cells that make a whole block go the csv module's way
HOSTILE = ["99999999999999999999999", "[" * 120 + "]" * 120]
TEXT = ["plain", "two words", "Zürich", "naïve café", "日本語", "emoji 😀", "back\\slash", 'say "hi"', "a,b", "tab\there",
        "line\nbreak", "cr\r\nlf", "ctrl\x01char", "del\x7f", "\u2028sep", "\ufeffbom", "é", "  lead", "trail  ", "x",
        "/slash", "-dash", ".dot", "{brace", "[bracket", "'single'", "\x0bvt", "\x1cfs"]


@pytest.fixture(autouse=True)
def _short_blocks_too(monkeypatch):
    """Blocks of a few rows are compared too (the path takes only blocks of many, for speed)."""
    monkeypatch.setattr(arrow, "MIN_ROWS", 1)


def _cell(rng: random.Random, hostile: bool) -> str:
    if hostile and rng.random() < 0.01:
        return rng.choice(HOSTILE)
    pool = rng.choice((NUMBERS, NUMBERS, WORDS, DATES, JSON, TEXT, TEXT))
    return rng.choice(pool)


def _encode(cell: str, rng: random.Random, delimiter: str, hostile: bool) -> str:
    """The cell as a CSV writer writes it, now and then quoted when it need not be, or quoted wrongly."""
    needs = any(c in cell for c in (delimiter, '"', "\n", "\r"))
    roll = rng.random()
    if hostile and roll < 0.03:  # a stray quote
        return rng.choice(['"' + cell, cell + '"', 'x"' + cell, '"' + cell + '"x', '"' + cell + '" '])
    if needs or roll < 0.15:
        return '"' + cell.replace('"', '""') + '"'
    return cell


def _block(rng: random.Random, header: list[str], delimiter: str) -> bytes:
    """A block of random rows; every other block hostile (stray quotes, CR line ends, ragged rows...)."""
    hostile = rng.random() < 0.5
    ending = rng.choice(["\n", "\r\n"] + ["\r"] * hostile) if rng.random() < 0.9 else None
    lines = []
    for index in range(rng.randint(1, 40)):
        key = str(rng.randint(-10 ** 6, 10 ** 6)) if not hostile or rng.random() < 0.97 else rng.choice(
            ["NULL", "", "abc", "1.5", "007", "99999999999999999", "true", "-0"])
        if rng.random() < 0.1:
            key = rng.choice(["k" + str(index), "ключ", 'q"k', "2024-01-02T03:04:05Z"])
        cells = [key] + [_cell(rng, hostile) for _ in header[1:]]
        if hostile and rng.random() < 0.02:
            cells.append("extra")  # ragged
        elif hostile and rng.random() < 0.02:
            cells.pop()
        lines.append(delimiter.join(_encode(cell, rng, delimiter, hostile) if i else (
            '"' + cell.replace('"', '""') + '"' if any(c in cell for c in (delimiter, '"', "\n", "\r")) else cell)
            for i, cell in enumerate(cells)))
        if hostile and rng.random() < 0.01:
            lines.append("")  # an empty line
    text = (ending or rng.choice(["\n", "\r\n"])).join(lines)
    if ending and rng.random() < 0.8:
        text += ending
    return text.encode("utf-8")


def _request(data: bytes, header: tuple[str, ...], delimiter: str, encoding: str | None) -> BlockRequest:
    return BlockRequest(data, 7, header, delimiter, encoding, MAX, header[0], TABLE, 5)


@pytest.mark.parametrize("seed", range(6))
def test_random_blocks_come_back_as_the_csv_module_makes_them_or_are_declined(seed):
    rng = random.Random(seed)
    accepted = 0
    blocks = 250
    for _ in range(blocks):
        delimiter = rng.choice([",", ",", ",", ";", "\t", "|"])
        header = ("id",) + tuple(rng.sample(["name", "a", "B", "zeta", "ünï", 'qu"ote', "back\\", "n 1", "__x",
                                             "10", "city", "score"], rng.randint(0, 6)))
        data = _block(rng, list(header), delimiter)
        encoding = rng.choice([None, "utf-8", "utf-8", "utf-8", "utf-8", "cp1252"])
        request = _request(data, header, delimiter, encoding)
        fast = arrow_block(request)
        if fast is None:
            continue
        accepted += 1
        assert fast == csv_block(request), data
    assert accepted > blocks // 4  # the path is taken: the comparison proves something


def test_a_typical_block_is_taken_and_every_column_kind_stays_exact():
    header = ("id", "name", "score", "code", "active", "flag", "note", "when", "doc")
    rows = [f'{i},name {i},{i}.{i % 7 + 1},0{i:04d},{"true" if i % 2 else "FALSE"},{"NULL" if i % 3 else ""},'
            f'"a ""quoted"", line\nand more",2024-01-0{i % 9 + 1}T00:00:00Z,"{{""k"":{i}}}"' for i in range(500)]
    data = ("\r\n".join(rows) + "\r\n").encode()
    request = _request(data, header, ",", None)
    fast = arrow_block(request)
    assert fast is not None and fast.kind == ROWS and fast.count == 500
    assert fast == csv_block(request)


@pytest.mark.parametrize("data", [
    b'1,a\n2,"b\n',  # a quote still open
    b'1,a"b\n',  # a quote inside an unquoted cell
    b'1,"a"b\n',  # text after a closing quote
    b"1,a\r2,b\r",  # CR line ends
    b"1,a\n\n2,b\n",  # an empty line
    b"1,a,x\n2,b\n",  # a ragged row
    b"\xef\xbb\xbf1,a\n",  # a BOM
    b"1,caf\xe9\n",  # not UTF-8
    b"NULL,a\n",  # a row without a key
    b"1," + b"[" * 150 + b"]" * 150 + b"\n",  # nested too deep: the csv module path names the line
    b"1,123456789012345678901234567890\n",  # beyond 64 bits
])
def test_blocks_it_cannot_prove_the_same_are_declined(data):
    assert arrow_block(_request(data, ("id", "name"), ",", None)) is None


def test_a_delimiter_arrow_cannot_take_is_declined():
    assert arrow_block(_request("1¦a\n".encode(), ("id", "name"), "¦", None)) is None


def test_a_tab_inside_a_quoted_cell_of_a_tab_separated_block_is_escaped():
    data = b'1\t"a\tb"\t2\n2\tc\t"x""y"\n'
    request = _request(data, ("id", "name", "n"), "\t", None)
    fast = arrow_block(request)
    assert fast is not None and fast == csv_block(request)


def test_a_block_of_few_rows_goes_the_csv_module_way(monkeypatch):
    monkeypatch.setattr(arrow, "MIN_ROWS", 256)
    header = tuple(f"c{i}" for i in range(3000))
    data = b"".join(",".join(str(i + row) for i in range(3000)).encode() + b"\n" for row in range(3))
    assert arrow_block(_request(data, header, ",", None)) is None
    rows = b"".join(f"{i},x\n".encode() for i in range(256))
    assert arrow_block(_request(rows, ("id", "name"), ",", None)) is not None


#: canonical integers, as the path's number pattern (``arrow._NUMBER``) takes them
_CANONICAL_INT = r"^-?(?:0|[1-9][0-9]{0,17})$"


def test_the_integer_kernels_take_exactly_the_canonical_integers():
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = random.Random(17)
    cells = NUMBERS + ["", "-", ".", "-.5", "0.0001", "0.00001", "0.00010", "-0.0"]
    for n in range(1, 22):
        cells += ["".join(rng.choice("0123456789" * 3 + "-.0+e x١") for _ in range(n)) for _ in range(300)]
        cells += [rng.choice(["", "-"]) + "".join(rng.choice("0123456789") for _ in range(rng.randint(0, n)))
                  + rng.choice(["", ".", "."]) + "".join(rng.choice("0123456789") for _ in range(rng.randint(0, n)))
                  for _ in range(300)]
        cells += ["1" + "0" * n, "0." + "0" * n + "1", "0.000" + "1" * n, "1." + "1" * n, "1" * n + ".5", "-" + "9" * n]
    column = pa.array(cells, pa.string())
    expected = pc.match_substring_regex(column, _CANONICAL_INT).to_pylist()
    assert arrow._numbers(column, integers=True).to_pylist() == expected
    assert sum(expected) > 1000
    no_dot = pc.filter(column, pc.invert(pc.match_substring(column, ".")))  # classified by the kernels
    assert arrow._numbers(no_dot).to_pylist() == pc.match_substring_regex(no_dot, arrow._NUMBER).to_pylist()
