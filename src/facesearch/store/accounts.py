"""Tables of the web service: users, API tokens, browser sessions and the hash-chained audit log.

Declared on the shared `Base`, so `Store` creates them with the rest of the schema. Secrets are never
stored: passwords as argon2 hashes, tokens and session ids as SHA-256 digests (they are 256-bit random
values, so a fast hash is enough and lookups stay indexed).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DDL, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base, utcnow

ROLES = ("admin", "operator", "examiner", "auditor")


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, shown in listings so an operator can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WebSession(Base):
    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)


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

# On SQLite the database itself refuses UPDATE and DELETE of audit rows, so no code path of the app can
# rewrite history by accident. Someone with direct file access can drop the triggers; the hash chain
# is what detects that.
# Homes get them from migration 0001_initial; this event keeps `Base.metadata.create_all` equivalent.
AUDIT_TRIGGERS = {
    name: f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {op} ON audit_log "
          "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
    for name, op in (("audit_log_no_update", "UPDATE"), ("audit_log_no_delete", "DELETE"))
}
for _sql in AUDIT_TRIGGERS.values():
    event.listen(AuditEntry.__table__, "after_create", DDL(_sql).execute_if(dialect="sqlite"))


def ensure_audit_triggers(engine: Engine) -> list[str]:
    """Check the append-only triggers of a SQLite home and restore any that were dropped; returns the names
    restored (empty when all were there, and always on other databases, which have none)."""
    if engine.dialect.name != "sqlite":
        return []
    with engine.begin() as conn:
        present = set(conn.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                        "AND tbl_name = 'audit_log'")))
        missing = [name for name in AUDIT_TRIGGERS if name not in present]
        for name in missing:
            conn.execute(text(AUDIT_TRIGGERS[name]))
    return missing
