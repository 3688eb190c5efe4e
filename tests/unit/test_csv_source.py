"""The streaming CSV reader: papaparse's dialect, batches with resume points, clear errors."""
from __future__ import annotations

import io
import tracemalloc

import pytest

from harness import CONFORMANCE, SHARED
from pipeline.sources.csv import CsvError, read_batches


def records(data: bytes, batch_size: int = 1000) -> list[dict]:
    return [r for batch in read_batches(io.BytesIO(data), batch_size) for r in batch.records]


def test_the_conformance_dogs():
    dogs = records((CONFORMANCE / "data" / "dogs.csv").read_bytes())
    assert len(dogs) == 10
    by_id = {d["id"]: d for d in dogs}
    assert by_id[6]["notes"] == "multi\nline note" and by_id[2]["notes"] == 'likes "fetch", naps'
    assert by_id[10]["notes"] is None and by_id[9]["notes"] == "-3.5e2" and by_id[8]["notes"] == "007"
    assert by_id[1] == {"id": 1, "dog_name": "Penny", "owner_name": "Kyle", "breed_id": 6, "age": 7,
                        "weight_lbs": 38.5, "adorable": True, "notes": ""}


def test_delimiters_line_endings_bom_and_headers():
    assert records((CONFORMANCE / "data" / "semicolon.csv").read_bytes()) == [{"id": 1, "name": "semi"}]
    assert records(b"a\tb\n1\t2\n") == [{"a": 1, "b": 2}]
    assert records(b"\xef\xbb\xbfid,name\r\n1,a\r\n\r\n2,\"x\r\ny\"\r\n") == [{"id": 1, "name": "a"},
                                                                              {"id": 2, "name": "x\r\ny"}]
    assert records(b"id,name\r1,a\r2,b\r") == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    assert records(b"a,a,b, c\n1,2,3,4\n5\n") == [{"a": 1, "a_1": 2, "b": 3, " c": 4}, {"a": 5}]
    assert records(b"a,b\n \n,\n") == [{"a": " "}, {"a": "", "b": ""}]  # only empty lines are skipped
    suppliers = records((SHARED / "harper-suite" / "data" / "Suppliers.csv").read_bytes())
    assert len(suppliers) == 29 and next(iter(suppliers[0])) == "supplierid"


def test_empty_and_header_only_files_yield_nothing():
    assert records(b"") == [] and records(b"id,name\n") == []
    assert records((CONFORMANCE / "data" / "empty_rows.csv").read_bytes()) == []


def test_batches_resume_exactly_where_they_end():
    data = (CONFORMANCE / "data" / "dogs.csv").read_bytes()
    batches = list(read_batches(io.BytesIO(data), 3))
    assert [len(b.records) for b in batches] == [3, 3, 3, 1]
    assert [b.first_line for b in batches] == [2, 5, 9, 12]  # record 6 spans two lines
    everything = records(data)
    for done, batch in enumerate(batches, 1):
        rest = [r for b in read_batches(io.BytesIO(data), 3, resume=batch.resume) for r in b.records]
        assert rest == everything[done * 3:]


@pytest.mark.parametrize("data, message", [
    (b'id,name\n1,a\n2,"never closed\n3,c\n', "line 3: a quoted field is never closed"),
    (b"id,name\n1,\x00\x01\x02\n", "line 2 contains NUL bytes: the file looks binary"),
    (b"id,name\n1,caf\xc3\xa9\n2,caf\xe9\n", "line 3 (byte offset 21) is not valid UTF-8, though the lines before it "
                                             "are: the file mixes encodings; give the operation an \"encoding\""),
    ("id,name\n1,café\n".encode("utf-16"), "the file is UTF-16 (it starts with a byte order mark): convert it"),
    (b"id,name\n1," + bytes(range(0x80, 0x100)) * 3 + b"\n", "line 2 (byte offset 8) is not UTF-8 and its encoding "
     "could not be determined (no text encoding reads it): give the operation an \"encoding\" field"),
])
def test_broken_files_name_the_line(data, message):
    with pytest.raises(CsvError) as err:
        records(data)
    assert message in str(err.value)


def test_a_row_with_more_cells_keeps_them_in_parsed_extra_as_harper_does():
    data = b'id,b\n1,2\n3,4,5,6\n7,x,"y,z"\n8\n9,1,\n'
    batches = list(read_batches(io.BytesIO(data), 2))
    assert [r for b in batches for r in b.records] == [  # what Harper 4.7 stores for the same data
        {"id": 1, "b": 2}, {"id": 3, "b": 4, "__parsed_extra": [5, 6]}, {"id": 7, "b": "x", "__parsed_extra": ["y,z"]},
        {"id": 8}, {"id": 9, "b": 1, "__parsed_extra": [""]}]
    end = batches[-1].resume
    assert (end.ragged, end.ragged_lines) == (3, (3, 4, 6))
    rest = list(read_batches(io.BytesIO(data), 2, resume=batches[0].resume))  # counted on across a resume
    assert (rest[-1].resume.ragged, rest[-1].resume.ragged_lines) == (3, (3, 4, 6))


def test_text_that_is_not_utf8_is_decoded_in_its_detected_or_given_encoding():
    assert records(b"id,name\n1,caf\xe9\n") == [{"id": 1, "name": "café"}]  # Windows-1252 wins the ties
    assert records("id,name\n1,Привет мир как дела\n".encode("cp1251")) == [{"id": 1, "name": "Привет мир как дела"}]
    latin2 = "id,name\n1,Zażółć gęślą jaźń\n".encode("iso-8859-2")
    assert list(read_batches(io.BytesIO(latin2), encoding="iso8859-2"))[0].records == [
        {"id": 1, "name": "Zażółć gęślą jaźń"}]
    with pytest.raises(CsvError, match=r"line 2 \(byte offset 13\) cannot be read as ascii, the operation's encoding"):
        list(read_batches(io.BytesIO(b"id,name\n1,caf\xe9\n"), encoding="ascii"))
    # a resumed read keeps the encoding decided before it
    data = b"id,name\n1,caf\xe9\n2,na\xefve\n"
    first = next(read_batches(io.BytesIO(data), 1))
    assert first.resume.encoding == "cp1252"
    assert [r for b in read_batches(io.BytesIO(data), 1, resume=first.resume) for r in b.records] == [
        {"id": 2, "name": "naïve"}]


def test_northwind_customers_is_read_as_the_iso_8859_1_it_is():
    data = (SHARED / "harper-suite" / "data" / "Customers.csv").read_bytes()
    batches = list(read_batches(io.BytesIO(data)))
    customers = {r["customerid"]: r for b in batches for r in b.records}
    assert len(customers) == 91 and batches[-1].resume.encoding == "cp1252"
    text = data.decode("iso-8859-1")
    names = {v for r in customers.values() for v in r.values() if isinstance(v, str) and not v.isascii()}
    assert names and all(name in text for name in names)
    assert customers["BLONP"]["companyname"] == "Blondesddsl père et fils"
    assert customers["ALFKI"]["contactmame"] == "Maria Anders" and customers["WOLZA"]["city"] == "Warszawa"


def test_memory_does_not_grow_with_the_file(tmp_path):
    path = tmp_path / "big.csv"
    row = b'1,"some text, quoted",3.5,true,"multi\nline"\n'
    with open(path, "wb") as out:
        out.write(b"a,b,c,d,e\n")
        for _ in range(16):
            out.write(row * 25_000)  # about 18 MB in all
    tracemalloc.start()
    with open(path, "rb") as stream:
        count = sum(len(b.records) for b in read_batches(stream, 1000))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 400_000
    assert peak < 12 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
