"""The system database through the HTTP API of a real worker: jobs, users, roles and the worker as read-only
tables, Harper's answers to a change, and what only a super user may see."""
from __future__ import annotations

import dataclasses
import json

import pytest

from harness import Client, WorkerProcess, cli, read_everything

SECRET = "s3cret-Sys-Pw!"
DROP_SYSTEM = ("The 'system' database, tables and records are used internally by HarperDB and cannot be updated "
               "or removed.")
NOT_AUTHORIZED = "This operation is not authorized due to role restrictions and/or invalid database items"


@pytest.fixture(scope="module")
def worker(module_settings, tmp_path_factory):
    settings = dataclasses.replace(module_settings, admin_username="root", admin_password=SECRET)
    process = WorkerProcess(settings, tmp_path_factory.mktemp("logs") / "worker.log").start()
    admin = process.client
    admin.ok({"operation": "create_table", "database": "shop", "table": "items", "primary_key": "id"})
    # a role that may even be granted read on the system database: Harper ignores such grants, and so do we
    admin.ok({"operation": "add_role", "role": "clerk", "permission": {"super_user": False, "shop": {"tables": {
        "items": {"read": True, "insert": True, "update": True, "delete": True, "attribute_permissions": []}}},
        "system": {"tables": {"hdb_job": {"read": True, "insert": False, "update": False, "delete": False,
                                          "attribute_permissions": []}}}}})
    admin.ok({"operation": "add_user", "role": "clerk", "username": "carl", "password": SECRET, "active": True})
    yield process
    process.stop()


def clerk(worker) -> Client:
    return Client(worker.client.url, f"carl:{SECRET}")


def search(table: str, attribute: str, value="*", **more) -> dict:
    return {"operation": "search_by_value", "database": "system", "table": table, "search_attribute": attribute,
            "search_value": value, "get_attributes": ["*"], **more}


def test_jobs_users_roles_and_the_worker_are_tables_of_the_system_database(worker):
    admin = worker.client
    job = admin.run_job({"operation": "csv_data_load", "database": "shop", "table": "items", "data": "id\n1\n2\n"})
    rows = admin.ok(search("hdb_job", "id", job["id"]))
    assert len(rows) == 1 and rows[0]["status"] == "COMPLETE" and rows[0]["user"] == "root"
    assert rows[0]["message"] == "successfully loaded 2 of 2 records" and rows[0]["type"] == "csv_data_load"
    assert rows[0]["__createdtime__"] == job["created_datetime"] and rows[0]["__updatedtime__"] == job["end_datetime"]
    assert "request" not in rows[0]  # a job's request may carry credentials: never shown
    users = {r["username"]: r for r in admin.ok(search("hdb_user", "username"))}
    assert set(users) == {"root", "carl"}
    assert users["carl"]["role"] == "clerk" and users["carl"]["active"] is True
    for row in users.values():  # Harper's attributes, but never a password or its hash
        assert row["password"] is None and row["hash"] is None and row["refresh_token"] is None
    roles = admin.ok({"operation": "search_by_hash", "database": "system", "table": "hdb_role",
                      "hash_values": ["super_user", "clerk"], "get_attributes": ["id", "permission"]})
    assert roles[0] == {"id": "super_user", "permission": {"super_user": True}}
    assert roles[1]["id"] == "clerk" and roles[1]["permission"]["shop"]["tables"]["items"]["read"] is True
    info = admin.ok({"operation": "search_by_hash", "database": "system", "table": "hdb_info", "hash_values": [1],
                     "get_attributes": ["info_id", "hdb_version_num"]})
    assert info[0]["info_id"] == 1 and info[0]["hdb_version_num"]
    assert admin.ok(search("hdb_nodes", "name")) == []


def test_sql_and_conditions_read_the_system_tables(worker):
    admin = worker.client
    assert admin.ok({"operation": "sql", "sql": "SELECT username, role FROM system.hdb_user WHERE role = 'clerk'"}) \
        == [{"username": "carl", "role": "clerk"}]
    counted = admin.ok({"operation": "sql", "sql": "SELECT status, COUNT(*) AS n FROM system.hdb_job GROUP BY status"})
    assert {"status": "COMPLETE", "n": len(admin.ok(search("hdb_job", "id")))} in counted
    found = admin.ok({"operation": "search_by_conditions", "database": "system", "table": "hdb_role",
                      "conditions": [{"search_attribute": "role", "search_type": "starts_with", "search_value": "cl"}],
                      "get_attributes": ["id"]})
    assert found == [{"id": "clerk"}]


def test_describe_shows_the_system_database_but_describe_all_does_not(worker):
    admin = worker.client
    described = admin.ok({"operation": "describe_database", "database": "system"})
    assert {"hdb_job", "hdb_user", "hdb_role", "hdb_info", "hdb_nodes", "hdb_certificate"} <= set(described)
    user_table = admin.ok({"operation": "describe_table", "schema": "system", "table": "hdb_user"})
    assert user_table["schema"] == "system" and user_table["hash_attribute"] == "username"
    assert user_table["record_count"] == 2
    assert [a["attribute"] for a in user_table["attributes"]][:3] == ["username", "__createdtime__",
                                                                      "__updatedtime__"]
    assert "system" not in admin.ok({"operation": "describe_all"})


@pytest.mark.parametrize("operation, answer", [
    ({"operation": "insert", "database": "system", "table": "hdb_user", "records": [{"username": "eve"}]},
     {"error": NOT_AUTHORIZED, "unauthorized_access": [{"schema": "system", "table": "hdb_user",
      "required_table_permissions": ["insert"], "required_attribute_permissions": []}], "invalid_schema_items": []}),
    ({"operation": "update", "database": "system", "table": "hdb_user", "records": [{"username": "root", "x": 1}]},
     {"error": DROP_SYSTEM}),
    ({"operation": "upsert", "database": "system", "table": "hdb_role", "records": [{"id": "super_user"}]},
     {"error": DROP_SYSTEM}),
    ({"operation": "delete", "database": "system", "table": "hdb_nodes", "ids": ["x"]}, {"error": DROP_SYSTEM}),
    ({"operation": "drop_table", "database": "system", "table": "hdb_job"}, {"error": DROP_SYSTEM}),
    ({"operation": "drop_database", "database": "system"}, {"error": DROP_SYSTEM}),
    ({"operation": "drop_attribute", "database": "system", "table": "hdb_user", "attribute": "role"},
     {"error": DROP_SYSTEM}),
    ({"operation": "create_table", "database": "system", "table": "mine", "primary_key": "id"}, {"error": DROP_SYSTEM}),
    ({"operation": "delete_records_before", "database": "system", "table": "hdb_job", "date": "2030-01-01"},
     {"error": DROP_SYSTEM}),
    ({"operation": "search_by_value", "database": "system", "table": "hdb_nope", "search_attribute": "id",
      "search_value": "*"},
     {"error": NOT_AUTHORIZED, "unauthorized_access": [], "invalid_schema_items": ["Table 'system.hdb_nope' does not exist"]}),
])
def test_nobody_changes_the_system_database(worker, operation, answer):
    for client in (worker.client, clerk(worker)):
        refused = client.op(operation)
        assert (refused.status, refused.body) == (403, answer), operation
    assert worker.client.ok(search("hdb_user", "username", "eve")) == []


def test_a_load_into_the_system_database_is_refused_even_from_the_topic(worker):
    load = {"operation": "csv_data_load", "database": "system", "table": "hdb_user", "data": "username,role\neve,super_user\n"}
    refused = worker.client.op(load)
    assert refused.status == 403 and refused.body["unauthorized_access"][0]["required_table_permissions"] == [
        "insert", "update"]
    # produced to the operations topic, it runs as a job with no credentials: still refused, in the job's message
    done = cli(worker.settings, "submit", "--kafka", "--wait", json.dumps(load))
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert record["status"] == "ERROR" and record["message"]["unauthorized_access"][0]["table"] == "hdb_user", record
    assert worker.client.ok(search("hdb_user", "username", "eve")) == []


def test_only_super_users_read_or_describe_the_system_database(worker):
    carl = clerk(worker)
    refused = carl.op(search("hdb_job", "id"))  # its role's grant on system.hdb_job counts for nothing
    assert refused.status == 403 and refused.body["unauthorized_access"] == [
        {"schema": "system", "table": "hdb_job", "required_table_permissions": ["read"],
         "required_attribute_permissions": []}]
    refused = carl.op({"operation": "sql", "sql": "SELECT * FROM system.hdb_user"})
    assert refused.status == 403 and refused.body["unauthorized_access"][0]["table"] == "hdb_user"
    for describe in ({"operation": "describe_table", "schema": "system", "table": "hdb_user"},
                     {"operation": "describe_table", "schema": "system"},
                     {"operation": "describe_database", "database": "system"}):
        refused = carl.op(describe)
        assert refused.status == 403 and refused.body["unauthorized_access"] == [
            "Your role does not have permission to view database metadata for 'system'"], describe
    assert set(carl.ok({"operation": "describe_all"})) == {"shop"}


def test_no_password_hash_leaves_the_worker(worker):
    """Through every way of reading the system tables, and in what the worker keeps: only in ``auth``."""
    admin = worker.client
    answers = [admin.ok(search("hdb_user", "username")),
               admin.ok({"operation": "sql", "sql": "SELECT * FROM system.hdb_user"}),
               admin.ok({"operation": "describe_database", "database": "system"})]
    stored = [json.loads(r) for r in read_everything(worker.settings, "auth") if b'"username":"carl"' in r]
    assert stored and all(r["hash"].startswith("scrypt-sha256$") for r in stored)  # the hash is in the auth topic ...
    text = json.dumps(answers)
    assert all(r["hash"] not in text for r in stored)  # ... and in no answer
    assert SECRET not in text and SECRET not in worker.log_text()


def test_sql_writes_to_the_system_database_get_harpers_refusals(worker):
    """INSERT as Harper's permission answer, UPDATE and DELETE as "used internally" (answers of Harper 4.7),
    for the super user too; nothing changes."""
    inserted = worker.client.op({"operation": "sql",
                                 "sql": "INSERT INTO system.hdb_user (username, role) VALUES ('eve', 'x')"})
    assert inserted.status == 403 and inserted.body["unauthorized_access"] == [
        {"schema": "system", "table": "hdb_user", "required_table_permissions": ["insert"],
         "required_attribute_permissions": []}]
    for sql in ("UPDATE system.hdb_job SET status = 'x' WHERE id IS NOT NULL",
                "DELETE FROM system.hdb_job WHERE id IS NOT NULL"):
        refused = worker.client.op({"operation": "sql", "sql": sql})
        assert (refused.status, refused.body) == (403, {"error": DROP_SYSTEM}), sql
    assert worker.client.ok(search("hdb_user", "username", "eve")) == []
    assert "x" not in {job["status"] for job in worker.client.ok(search("hdb_job", "id"))}
