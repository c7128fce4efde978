"""The audit log's table, and the append-only triggers that make the database itself refuse to rewrite it.

Declared on the shared `Base`, so `Store` creates it with the rest of the schema."""

from __future__ import annotations

from sqlalchemy import DDL, Float, Index, Integer, String, Text, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from ..schema import Base


class AuditEntry(Base):
    """One audited event. `hash` covers every other column, including `prev_hash`, so editing,
    inserting or deleting any entry breaks the chain from that point on.

    Timestamps are stored as ISO strings and structured fields as canonical JSON text, so the bytes
    that were hashed are exactly the bytes read back on any database backend.
    """

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(40), index=True)
    actor: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    role: Mapped[str | None] = mapped_column(String(20), nullable=True)
    action: Mapped[str] = mapped_column(String(40), index=True)
    outcome: Mapped[str] = mapped_column(String(40), default="ok")
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    case_ref: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    purpose: Mapped[str | None] = mapped_column(Text, nullable=True)
    collections: Mapped[str | None] = mapped_column(Text, nullable=True)
    model: Mapped[str | None] = mapped_column(String(64), nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    probe_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    results: Mapped[str | None] = mapped_column(Text, nullable=True)
    details: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Unique: two writers that read the same tail cannot both append after it; the loser retries.
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64))


Index("ix_audit_log_actor_ts", AuditEntry.actor, AuditEntry.ts)
# The per-user search quota and case reports count one action over a period (migration 0002_audit_action_ts).
Index("ix_audit_log_action_ts", AuditEntry.action, AuditEntry.ts)

# The database itself refuses UPDATE and DELETE of audit rows (and TRUNCATE on PostgreSQL), so no code path
# of the app can rewrite history by accident. Someone with direct access (the SQLite file, a PostgreSQL
# superuser) can drop or disable the triggers; the hash chain is what detects that, and opening a home
# restores them (`ensure_audit_triggers`).
# Homes get them from migrations (0001_initial on SQLite, 0004_embeddings on PostgreSQL); these events keep
# `Base.metadata.create_all` equivalent.
APPEND_ONLY = "the audit log is append-only"
SQLITE_AUDIT_TRIGGERS = {
    name: f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {op} ON audit_log "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
    for name, op in (("audit_log_no_update", "UPDATE"), ("audit_log_no_delete", "DELETE"))
}
for _sql in SQLITE_AUDIT_TRIGGERS.values():
    event.listen(AuditEntry.__table__, "after_create", DDL(_sql).execute_if(dialect="sqlite"))  # type: ignore[no-untyped-call]

PG_AUDIT_FUNCTION = (
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
)
PG_AUDIT_TRIGGERS = {
    name: f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION audit_log_append_only()"
    for name, when in (
        ("audit_log_no_update", "BEFORE UPDATE ON audit_log FOR EACH ROW"),
        ("audit_log_no_delete", "BEFORE DELETE ON audit_log FOR EACH ROW"),
        ("audit_log_no_truncate", "BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT"),
    )
}


def pg_enable_always(name: str) -> str:
    """ENABLE ALWAYS: the trigger fires even under `session_replication_role = replica`, which would
    otherwise skip it."""
    return f"ALTER TABLE audit_log ENABLE ALWAYS TRIGGER {name}"


for _sql in (PG_AUDIT_FUNCTION, *PG_AUDIT_TRIGGERS.values(), *map(pg_enable_always, PG_AUDIT_TRIGGERS)):
    event.listen(AuditEntry.__table__, "after_create", DDL(_sql).execute_if(dialect="postgresql"))  # type: ignore[no-untyped-call]


def ensure_audit_triggers(engine: Engine) -> list[str]:
    """Check the append-only triggers of the audit log and restore any that were dropped (or, on PostgreSQL,
    disabled or not enabled ALWAYS); returns the names restored, empty when all were in place."""
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            present = set(
                conn.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'"))
            )
            missing = [name for name in SQLITE_AUDIT_TRIGGERS if name not in present]
            for name in missing:
                conn.execute(text(SQLITE_AUDIT_TRIGGERS[name]))
        return missing
    if engine.dialect.name != "postgresql":
        return []
    with engine.begin() as conn:
        # tgenabled: 'A' always; 'O' only outside replica sessions; 'D' disabled. Anything but 'A' is restored.
        found: dict[str, str] = dict(
            conn.execute(
                text(
                    "SELECT tgname, tgenabled FROM pg_trigger "
                    "WHERE tgrelid = 'audit_log'::regclass AND NOT tgisinternal"
                )
            ).all()
        )
        restored = [name for name in PG_AUDIT_TRIGGERS if found.get(name) != "A"]
        if restored:
            # The function goes only with its triggers (DROP FUNCTION refuses while they use it).
            conn.execute(text(PG_AUDIT_FUNCTION))
        for name in restored:
            if name not in found:
                conn.execute(text(PG_AUDIT_TRIGGERS[name]))
            conn.execute(text(pg_enable_always(name)))
    return restored
