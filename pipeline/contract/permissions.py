"""Harper's permission rules: what only a super user may run, what a load needs, and Harper's 401 and 403.

The check itself (which role may do what with which table) is
:mod:`pipeline.auth.policy`; the texts and shapes it answers with are here.
"""
from __future__ import annotations

from .errors import HarperError

LOGIN_FAILED = "Login failed"
NOT_AUTHORIZED = "This operation is not authorized due to role restrictions and/or invalid database items"
TABLE_PERMISSIONS = ("read", "insert", "update", "delete")
ATTRIBUTE_PERMISSIONS = ("read", "insert", "update")
#: operations only a super user may run, with the function name Harper's 403 names
SUPER_USER_ONLY = {
    "create_database": "createSchema", "create_schema": "createSchema", "create_table": "createTable",
    "drop_database": "dropSchema", "drop_schema": "dropSchema", "drop_table": "dropTable",
    "drop_attribute": "dropAttribute",
    "add_user": "addUser", "alter_user": "alterUser", "drop_user": "dropUser", "list_users": "listUsersExternal",
    "add_role": "addRole", "alter_role": "alterRole", "drop_role": "dropRole", "list_roles": "listRoles",
    "delete_records_before": "deleteFilesBefore", "delete_files_before": "deleteFilesBefore",
    "delete_audit_logs_before": "deleteAuditLogsBefore",
    "search_jobs_by_start_date": "handleGetJobsByStartDate", "system_information": "systemInformation",
    "snapshot": "snapshot",
}


def TIMESTAMPS_READ_ONLY() -> HarperError:  # noqa: N802 - reads as the constant it stands for
    """A role that may see a timestamp attribute writes it (the missing underscore is Harper's)."""
    return HarperError("Internal timestamp attributes - '__createdtime_' and '__updatedtime__' - cannot be inserted "
                       "to or updated by HDB users.", 403)


def not_authorized(unauthorized: list, invalid: list) -> HarperError:
    """Harper's 403: the body is the permissions result itself."""
    return HarperError({"error": NOT_AUTHORIZED, "unauthorized_access": unauthorized,
                        "invalid_schema_items": invalid}, 403)


def restricted(function_name: str) -> HarperError:
    return not_authorized([f"Operation '{function_name}' is restricted to 'super_user' roles"], [])


def attribute_missing(database: str, table: str, attribute: str) -> str:
    return f"Attribute '{attribute}' does not exist on '{database}.{table}'"


def required_permissions(database: str, table: str, table_perms: list[str], attribute_perms: list[dict]) -> dict:
    return {"schema": database, "table": table, "required_table_permissions": table_perms,
            "required_attribute_permissions": attribute_perms}


def load_permissions(action: str) -> tuple[str, ...]:
    """A bulk load needs insert and update, or only what its ``action`` names (upsert: both)."""
    return {"insert": ("insert",), "update": ("update",)}.get(action, ("insert", "update"))
