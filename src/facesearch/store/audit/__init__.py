"""The audit log: an append-only, keyed hash chain of everything done with faces (who, when, from where, why,
what came back), kept in the database and checkpointed beside it.

- `table`: the `audit_log` table and the triggers that make the database refuse to rewrite it;
- `actions`: what an entry records (`vocabulary.Action`, the one list);
- `chain`: the writer (`AuditLog`) and its key, the hash of an entry, the checkpoint;
- `verify`: the check of every hash and link (`verify_chain`);
- `query`: reading entries back, exports, and the counts the rules ask for.

Use cases write entries through `app.auditing.record`, never through `AuditLog.record` directly."""

from .actions import ACTIONS, Action, action_value
from .chain import (
    FIELDS,
    GENESIS,
    HEAD_FILE,
    JSON_FIELDS,
    KEY_FILE,
    AuditLog,
    AuditWriteError,
    ChainKey,
    canonical_json,
    entry_hash,
    now_iso,
    read_head,
    read_key,
    row_fields,
)
from .query import (
    FORMULA_PREFIXES,
    action_rows,
    case_entries,
    case_members,
    case_owner,
    case_refs,
    count_since,
    csv_cell,
    entry_dict,
    export,
    login_failures,
    parse_when,
    query,
    read_entry,
    token_minter,
    took_part,
)
from .table import AuditEntry, ensure_audit_triggers
from .verify import ChainReport, iter_entries, verify_chain

__all__ = [
    "ACTIONS",
    "FIELDS",
    "FORMULA_PREFIXES",
    "GENESIS",
    "HEAD_FILE",
    "JSON_FIELDS",
    "KEY_FILE",
    "Action",
    "AuditEntry",
    "AuditLog",
    "AuditWriteError",
    "ChainKey",
    "ChainReport",
    "action_rows",
    "case_refs",
    "action_value",
    "canonical_json",
    "case_entries",
    "case_members",
    "count_since",
    "csv_cell",
    "ensure_audit_triggers",
    "entry_dict",
    "entry_hash",
    "export",
    "iter_entries",
    "login_failures",
    "now_iso",
    "parse_when",
    "query",
    "read_entry",
    "read_head",
    "read_key",
    "row_fields",
    "token_minter",
    "case_owner",
    "took_part",
    "verify_chain",
]
