"""The operations Harper's bulk API knows, by family (the names the other rules are keyed by)."""
from __future__ import annotations

ACTIONS = ("insert", "update", "upsert")
LOADS = frozenset({"csv_data_load", "csv_file_load", "csv_url_load", "import_from_s3"})
DELETE_BEFORE = frozenset({"delete_records_before", "delete_files_before"})
AUDIT = frozenset({"delete_audit_logs_before"})
EXPORTS = frozenset({"export_local", "export_to_s3"})
JOB_OPERATIONS = LOADS | DELETE_BEFORE | AUDIT | EXPORTS
SEARCH_OPERATIONS = ("search_by_value", "search_by_hash", "sql", "search_by_conditions")
