"""Real-world CSVs through a real worker: Northwind's ISO-8859-1 Customers.csv and Orders.csv with its rows of
more cells than the header (an unquoted comma in an address), as Harper's own tests load them."""
from __future__ import annotations

import csv
import dataclasses
import io

import pytest

from harness import SHARED, WorkerProcess

NORTHWIND = SHARED / "harper-suite" / "data"


@pytest.fixture(scope="module")
def worker(module_settings, tmp_path_factory):
    settings = dataclasses.replace(module_settings, allowed_dirs=(*module_settings.allowed_dirs, NORTHWIND))
    process = WorkerProcess(settings, tmp_path_factory.mktemp("logs") / "worker.log").start()
    yield process
    process.stop()


def everything(client, table: str, key: str) -> list[dict]:
    return client.ok({"operation": "search_by_value", "database": "northwind", "table": table,
                      "search_attribute": key, "search_value": "*", "get_attributes": ["*"]})


def file_rows(name: str, encoding: str) -> list[list[str]]:
    """The file's rows as Python's csv module reads the text in ``encoding`` (its header first)."""
    return list(csv.reader(io.StringIO((NORTHWIND / name).read_bytes().decode(encoding))))


def test_customers_csv_is_loaded_decoded_as_the_iso_8859_1_it_is(worker):
    client = worker.client
    client.ok({"operation": "create_table", "database": "northwind", "table": "customers",
               "primary_key": "customerid"})
    job = client.run_job({"operation": "csv_file_load", "action": "insert", "schema": "northwind",
                          "table": "customers", "file_path": str(NORTHWIND / "Customers.csv")})
    rows = file_rows("Customers.csv", "iso-8859-1")
    header, body = rows[0], [r for r in rows[1:] if r]
    ragged = [number for number, r in enumerate(rows[1:], 2) if len(r) > len(header)]
    assert job["status"] == "COMPLETE", job
    assert job["message"] == f"successfully loaded {len(body)} of {len(body)} records" == \
        "successfully loaded 91 of 91 records"  # Harper's count: a row with extra cells is a record
    assert job["result"] == {"rows_with_extra_cells": len(ragged), "first_lines_with_extra_cells": ragged[:10],
                             "encoding": "cp1252"}  # cp1252 reads ISO-8859-1's letters alike
    stored = {r["customerid"]: r for r in everything(client, "customers", "customerid")}
    assert len(stored) == 91
    # every text cell that is not ASCII is exactly what the file says in ISO-8859-1
    expected = {r[0]: r for r in body}
    non_ascii = 0
    for key, row in expected.items():
        for name, cell in zip(header, row):
            if not cell.isascii():
                assert stored[key][name] == cell, (key, name)
                non_ascii += 1
    assert non_ascii >= 60
    assert stored["BLONP"]["companyname"] == "Blondesddsl père et fils"
    assert stored["BLONP"]["contactmame"] == "Frédérique Citeaux"
    assert stored["BERGS"]["city"] == "Luleå" and stored["GALED"]["address"] == "Rambla de Cataluña"
    assert stored["TOMSP"]["city"] == "Mÿnster"  # the file's byte is 0xFF, "ÿ": decoded, not corrected
    # the unquoted comma of "24, place Kléber": the cells shift as in Harper, the last one kept
    assert (stored["BLONP"]["address"], stored["BLONP"]["city"], stored["BLONP"]["__parsed_extra"]) == (
        24, " place Kléber", ["88.60.15.32"])


def test_orders_csv_keeps_the_extra_cells_of_its_ragged_rows(worker):
    client = worker.client
    client.ok({"operation": "create_table", "database": "northwind", "table": "orders", "primary_key": "orderid"})
    job = client.run_job({"operation": "csv_file_load", "action": "insert", "schema": "northwind",
                          "table": "orders", "file_path": str(NORTHWIND / "Orders.csv")})
    rows = file_rows("Orders.csv", "ascii")  # Orders.csv is ASCII: its accents were lost before it was shared
    header, body = rows[0], [r for r in rows[1:] if r]
    ragged = {int(r[0]): r[len(header):] for r in body if len(r) > len(header)}
    lines = [number for number, r in enumerate(rows[1:], 2) if len(r) > len(header)]
    assert job["status"] == "COMPLETE", job
    assert job["message"] == "successfully loaded 830 of 830 records" and len(body) == 830
    assert job["result"] == {"rows_with_extra_cells": len(ragged), "first_lines_with_extra_cells": lines[:10]}
    stored = {r["orderid"]: r for r in everything(client, "orders", "orderid")}
    assert len(stored) == 830
    assert {k: r["__parsed_extra"] for k, r in stored.items() if r.get("__parsed_extra") is not None} == {
        k: cells for k, cells in ragged.items()}  # country names: text, as typed
    assert {"Brazil", "France", "Spain"} <= {c for cells in ragged.values() for c in cells}
    hanari = stored[10250]
    assert (hanari["shipaddress"], hanari["shipcity"], hanari["shipregion"], hanari["__parsed_extra"]) == (
        "Rua do Pa o", 67, "Rio de Janeiro", ["Brazil"])
    assert stored[10248]["shipcity"] == "Reims" and stored[10248].get("__parsed_extra") is None
    # the table's attributes are the header's and Harper's __parsed_extra, nothing else
    attributes = {a["attribute"] for a in client.ok({"operation": "describe_table", "database": "northwind",
                                                     "table": "orders"})["attributes"]}
    assert attributes == {*header, "__parsed_extra", "__createdtime__", "__updatedtime__"}


def test_an_encoding_named_by_the_operation_is_used_and_a_wrong_one_is_an_error(worker, tmp_path):
    client = worker.client
    client.ok({"operation": "create_table", "database": "northwind", "table": "polish", "primary_key": "id"})
    path = tmp_path / "polish.csv"
    path.write_bytes("id,name\n1,Zażółć gęślą jaźń\n2,Łódź\n".encode("iso-8859-2"))
    job = client.run_job({"operation": "csv_file_load", "database": "northwind", "table": "polish",
                          "file_path": str(path), "encoding": "ISO-8859-2"})
    assert (job["status"], job["result"]) == ("COMPLETE", {"encoding": "iso8859-2"}), job
    names = client.ok({"operation": "search_by_hash", "database": "northwind", "table": "polish",
                       "hash_values": [1, 2], "get_attributes": ["name"]})
    assert sorted(r["name"] for r in names) == ["Zażółć gęślą jaźń", "Łódź"]
    wrong = client.run_job({"operation": "csv_file_load", "database": "northwind", "table": "polish",
                            "file_path": str(path), "encoding": "utf-8"})
    assert wrong["status"] == "ERROR" and wrong["message"].startswith(
        "line 2 (byte offset 12) cannot be read as utf-8, the operation's encoding; give the operation an "
        "\"encoding\" field"), wrong
    refused = client.op({"operation": "csv_file_load", "database": "northwind", "table": "polish",
                         "file_path": str(path), "encoding": "utf-16"})
    assert refused.status == 400 and "'encoding' must name a text encoding" in refused.body["error"]
