"""Attributes and the rest of Harper's catalog and validation answers, through the HTTP API of a real worker:
create_attribute, drop_attribute, delete_audit_logs_before, names given as numbers, reserved key values and
the timestamps a role may only read."""
from __future__ import annotations

import pytest

from harness import Client, WorkerProcess

PASSWORD = "Cat4log-pw!"


@pytest.fixture(scope="module")
def worker(module_settings, tmp_path_factory):
    process = WorkerProcess(module_settings, tmp_path_factory.mktemp("logs") / "worker.log").start()
    admin = process.client
    admin.ok({"operation": "create_table", "database": "zoo", "table": "pets", "primary_key": "id"})
    admin.ok({"operation": "insert", "database": "zoo", "table": "pets", "records": [{"id": 100, "name": "Rex"}]})
    admin.ok({"operation": "add_role", "role": "keeper", "permission": {"super_user": False, "zoo": {"tables": {
        "pets": {"read": True, "insert": True, "update": True, "delete": False, "attribute_permissions": [
            {"attribute_name": "name", "read": True, "insert": True, "update": True},
            {"attribute_name": "__createdtime__", "read": True, "insert": True, "update": True}]}}}}})
    admin.ok({"operation": "add_user", "role": "keeper", "username": "kim", "password": PASSWORD, "active": True})
    yield process
    process.stop()


def kim(worker) -> Client:
    return Client(worker.client.url, f"kim:{PASSWORD}")


def everything(client: Client, table: str = "pets") -> list[dict]:
    return client.ok({"operation": "search_by_value", "database": "zoo", "table": table, "search_attribute": "id",
                      "search_value": "*", "get_attributes": ["*"]})


def test_create_attribute_adds_it_to_the_table(worker):
    admin = worker.client
    assert admin.ok({"operation": "create_attribute", "database": "zoo", "table": "pets", "attribute": "color"}) == {
        "message": "attribute 'zoo.pets.color' successfully created."}
    described = admin.ok({"operation": "describe_table", "database": "zoo", "table": "pets"})
    assert "color" in [a["attribute"] for a in described["attributes"]]
    for body, status, error in [
        ({"attribute": "color"}, 400, "attribute 'color' already exists in zoo.pets"),
        ({"attribute": "__createdtime__"}, 400, "attribute '__createdtime__' already exists in zoo.pets"),
        ({"attribute": ""}, 400, "Attribute name is required"),
        ({"attribute": "a/b"}, 400, "Attribute names cannot include backticks or forward slashes"),
        ({"attribute": 5}, 400, "'attribute' must be a string"),
        ({"attribute": "x", "table": "nope"}, 404, "Table 'zoo.nope' does not exist"),
    ]:
        answer = admin.op({"operation": "create_attribute", "database": "zoo", "table": "pets", **body})
        assert (answer.status, answer.body) == (status, {"error": error}), body
    # a role that may insert into the table may add an attribute to it; one that may not, may not
    assert kim(worker).ok({"operation": "create_attribute", "database": "zoo", "table": "pets",
                           "attribute": "size"})["message"] == "attribute 'zoo.pets.size' successfully created."


def test_drop_attribute_removes_it_from_every_record(worker):
    admin = worker.client
    admin.ok({"operation": "create_table", "database": "zoo", "table": "birds", "primary_key": "id"})
    admin.ok({"operation": "insert", "database": "zoo", "table": "birds",
              "records": [{"id": i, "name": f"b{i}", "wings": 2} for i in range(40)]})  # on every shard
    assert admin.ok({"operation": "drop_attribute", "database": "zoo", "table": "birds", "attribute": "wings"}) == {
        "message": "successfully deleted attribute 'wings'"}
    rows = everything(admin, "birds")
    assert len(rows) == 40 and all("wings" not in r and r["name"] == f"b{r['id']}" for r in rows)
    attributes = [a["attribute"] for a in admin.ok({"operation": "describe_table", "database": "zoo",
                                                    "table": "birds"})["attributes"]]
    assert "wings" not in attributes and "name" in attributes
    # the attribute comes back empty: the old values are gone, not hidden
    admin.ok({"operation": "create_attribute", "database": "zoo", "table": "birds", "attribute": "wings"})
    admin.ok({"operation": "update", "database": "zoo", "table": "birds", "records": [{"id": 1, "wings": 4}]})
    assert [r["wings"] for r in everything(admin, "birds") if r.get("wings") is not None] == [4]
    # Harper deletes an attribute it does not have all the same
    assert admin.ok({"operation": "drop_attribute", "database": "zoo", "table": "birds", "attribute": "never"}) == {
        "message": "successfully deleted attribute 'never'"}
    for attribute, error in [
        ("__createdtime__", "cannot drop internal timestamp attribute: __createdtime__"),
        ("id", "cannot drop attribute 'id': it is the primary key of zoo.birds; drop the table instead"),
    ]:
        answer = admin.op({"operation": "drop_attribute", "database": "zoo", "table": "birds",
                           "attribute": attribute})
        assert (answer.status, answer.body) == (400, {"error": error})
    assert len(everything(admin, "birds")) == 40
    refused = kim(worker).op({"operation": "drop_attribute", "database": "zoo", "table": "pets", "attribute": "name"})
    assert refused.status == 403 and refused.body["unauthorized_access"] == [
        "Operation 'dropAttribute' is restricted to 'super_user' roles"]


def test_delete_audit_logs_before_finds_no_audit_log(worker):
    admin = worker.client
    job = admin.run_job({"operation": "delete_audit_logs_before", "database": "zoo", "table": "pets",
                         "timestamp": 1690553291764})
    assert job["status"] == "COMPLETE" and job["type"] == "delete_audit_logs_before"
    assert job["message"].startswith("no audit log to delete: table 'zoo.pets' keeps no audit log here")
    missing = admin.run_job({"operation": "delete_audit_logs_before", "database": "zoo", "table": "gone",
                             "timestamp": "1690553291764"})
    assert missing["status"] == "ERROR" and missing["message"] == "Table 'zoo.gone' does not exist"
    for body, error in [({}, "'timestamp' is required"), ({"timestamp": "yesterday"}, "'timestamp' is invalid")]:
        answer = admin.op({"operation": "delete_audit_logs_before", "database": "zoo", "table": "pets", **body})
        assert (answer.status, answer.body) == (400, {"error": error})
    refused = kim(worker).op({"operation": "delete_audit_logs_before", "database": "zoo", "table": "pets",
                              "timestamp": 1})
    assert refused.status == 403 and refused.body["unauthorized_access"] == [
        "Operation 'deleteAuditLogsBefore' is restricted to 'super_user' roles"]


def test_names_given_as_numbers(worker):
    admin = worker.client
    for body, error in [
        ({"operation": "create_schema", "schema": 1123}, "'schema' must be a string"),
        ({"operation": "create_database", "database": 1123}, "'database' must be a string"),
        ({"operation": "create_table", "schema": 1123, "table": 1, "primary_key": "id"},
         "'schema' must be a string. 'table' must be a string"),
        ({"operation": "drop_table", "schema": 1123, "table": 1}, "'schema' must be a string. 'table' must be a string"),
        ({"operation": "drop_schema", "schema": 1123}, "'schema' must be a string"),
    ]:
        answer = admin.op(body)
        assert (answer.status, answer.body) == (400, {"error": error}), body
    # a write names its table with numbers as it likes (Harper reads them as the names they spell)
    admin.ok({"operation": "create_table", "schema": "123", "table": "4", "primary_key": "id"})
    assert admin.ok({"operation": "insert", "schema": 123, "table": 4,
                     "records": [{"id": 1, "name": "Cool Dawg"}]})["message"] == "inserted 1 of 1 records"
    assert admin.ok({"operation": "update", "schema": 123, "table": 4,
                     "records": [{"id": 1, "name": "Hot Dawg"}]})["message"] == "updated 1 of 1 records"
    assert admin.ok({"operation": "search_by_hash", "schema": "123", "table": "4", "hash_values": [1],
                     "get_attributes": ["name"]}) == [{"name": "Hot Dawg"}]
    # ... and the permission check sees the table so named
    refused = kim(worker).op({"operation": "insert", "schema": 123, "table": 4, "records": [{"id": 2}]})
    assert refused.status == 403 and refused.body["invalid_schema_items"] == ["database '123' does not exist"]


def test_reserved_key_values_and_timestamps_a_role_may_only_read(worker):
    admin = worker.client
    for value in ("null", "undefined"):
        answer = admin.op({"operation": "upsert", "database": "zoo", "table": "pets",
                           "records": [{"id": value, "name": "x"}, {"name": "y"}]})
        assert (answer.status, answer.body) == (400, {"error": f"Invalid hash value: '{value}' is not a valid hash "
                                                               "attribute value, check log for more info"})
    refused = kim(worker).op({"operation": "insert", "database": "zoo", "table": "pets",
                              "records": [{"id": 1, "__createdtime__": "Stuff and things"}]})
    assert (refused.status, refused.body) == (403, {"error": "Internal timestamp attributes - '__createdtime_' and "
                                                             "'__updatedtime__' - cannot be inserted to or updated by "
                                                             "HDB users."})
    # the timestamp the role does not list does not exist for it; the super user writes both (and the store
    # sets them, as Harper does)
    refused = kim(worker).op({"operation": "insert", "database": "zoo", "table": "pets",
                              "records": [{"id": 1, "__updatedtime__": 5}]})
    assert refused.status == 403 and refused.body["invalid_schema_items"] == [
        "Attribute '__updatedtime__' does not exist on 'zoo.pets'"]
    assert admin.ok({"operation": "insert", "database": "zoo", "table": "pets",
                     "records": [{"id": 1, "__createdtime__": 5}]})["inserted_hashes"] == [1]
    assert admin.ok({"operation": "search_by_hash", "database": "zoo", "table": "pets", "hash_values": [1],
                     "get_attributes": ["__createdtime__"]})[0]["__createdtime__"] != 5
    described = kim(worker).ok({"operation": "describe_table", "database": "zoo", "table": "pets"})
    assert {a["attribute"] for a in described["attributes"]} == {"id", "name", "__createdtime__"}
