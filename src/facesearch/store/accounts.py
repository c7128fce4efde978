"""Tables of the web service (users, API tokens, browser sessions and the hash-chained audit log), and the
queries of accounts, tokens and sessions.

Declared on the shared `Base`, so `Store` creates them with the rest of the schema. Secrets are never
stored: passwords as argon2 hashes, tokens and session ids as SHA-256 digests (they are 256-bit random
values, so a fast hash is enough and lookups stay indexed). The rules (who may, password quality, expiry)
are the application's (app/accounts.py); these functions only read and write rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    DDL,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    delete,
    event,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base, utcnow

if TYPE_CHECKING:  # the store imports these tables (through migrate) before it exists
    from .db import Store


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


# Accounts, tokens and sessions: the queries -------------------------------------------------------------
def get_user(store: Store, name: str) -> User | None:
    with store.session() as s:
        return s.scalar(select(User).where(User.name == name))


def list_users(store: Store) -> list[User]:
    with store.session() as s:
        return list(s.scalars(select(User).order_by(User.name)))


def insert_user(store: Store, name: str, role: str, password_hash: str) -> User | None:
    """A new account; None (and nothing written) when the name is taken."""
    with store.session.begin() as s:
        if s.scalar(select(User.id).where(User.name == name)) is not None:
            return None
        user = User(name=name, role=role, password_hash=password_hash)
        s.add(user)
    return user


def set_password_hash(store: Store, name: str, password_hash: str) -> int | None:
    """Set an account's password hash and end its browser sessions, in one transaction; returns how many
    sessions ended, or None when there is no such account."""
    with store.session.begin() as s:
        user = s.scalar(select(User).where(User.name == name))
        if user is None:
            return None
        user.password_hash = password_hash
        ended = s.execute(delete(WebSession).where(WebSession.user_id == user.id))
        return int(getattr(ended, "rowcount", 0) or 0)


def rehash_password(store: Store, user_id: int, password_hash: str) -> None:
    with store.session.begin() as s:
        s.execute(update(User).where(User.id == user_id).values(password_hash=password_hash))


def set_disabled(store: Store, name: str, disabled: bool) -> bool:
    """Disable (or enable) an account; disabling also ends its sessions and revokes its tokens, in the same
    transaction. False when there is no such account."""
    with store.session.begin() as s:
        user = s.scalar(select(User).where(User.name == name))
        if user is None:
            return False
        user.disabled = disabled
        if disabled:
            s.execute(delete(WebSession).where(WebSession.user_id == user.id))
            s.execute(
                update(ApiToken)
                .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
    return True


def insert_session(
    store: Store, user_id: int, id_hash: str, csrf_token: str, expires_at: datetime, ip: str | None
) -> None:
    """A new browser session. Expired sessions are swept here rather than by a scheduler: sign-ins are
    frequent enough."""
    with store.session.begin() as s:
        s.execute(delete(WebSession).where(WebSession.expires_at < utcnow()))
        s.add(WebSession(id_hash=id_hash, user_id=user_id, csrf_token=csrf_token, expires_at=expires_at, ip=ip))


def session_with_user(store: Store, id_hash: str) -> tuple[WebSession, User] | None:
    with store.session() as s:
        row = s.execute(
            select(WebSession, User).join(User, User.id == WebSession.user_id).where(WebSession.id_hash == id_hash)
        ).first()
    return (row[0], row[1]) if row is not None else None


def delete_session(store: Store, id_hash: str) -> None:
    with store.session.begin() as s:
        s.execute(delete(WebSession).where(WebSession.id_hash == id_hash))


def insert_token(store: Store, user_id: int, label: str, token_hash: str, prefix: str) -> int:
    """A new API token (its hash and first characters); returns its id."""
    with store.session.begin() as s:
        row = ApiToken(user_id=user_id, label=label, token_hash=token_hash, prefix=prefix)
        s.add(row)
        s.flush()
        return row.id


def revoke_tokens(
    store: Store, *, token_id: int | None = None, token_hash: str | None = None, user_id: int | None = None
) -> int:
    """Revoke the active tokens that match the one criterion given; returns how many were revoked."""
    q = update(ApiToken).where(ApiToken.revoked_at.is_(None))
    if token_id is not None:
        q = q.where(ApiToken.id == token_id)
    elif token_hash is not None:
        q = q.where(ApiToken.token_hash == token_hash)
    elif user_id is not None:
        q = q.where(ApiToken.user_id == user_id)
    else:
        raise ValueError("revoke_tokens needs a token id, a token hash or a user id")
    with store.session.begin() as s:
        return int(getattr(s.execute(q.values(revoked_at=utcnow())), "rowcount", 0) or 0)


def list_tokens(store: Store) -> list[tuple[ApiToken, str]]:
    """Every token with its user's name, oldest first."""
    with store.session() as s:
        rows = s.execute(
            select(ApiToken, User.name).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
        ).all()
    return [(t, n) for t, n in rows]


def token_with_user(store: Store, token_hash: str) -> tuple[ApiToken, User] | None:
    with store.session() as s:
        row = s.execute(
            select(ApiToken, User).join(User, User.id == ApiToken.user_id).where(ApiToken.token_hash == token_hash)
        ).first()
    return (row[0], row[1]) if row is not None else None


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
AUDIT_TRIGGERS = {
    name: f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {op} ON audit_log "
    f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
    for name, op in (("audit_log_no_update", "UPDATE"), ("audit_log_no_delete", "DELETE"))
}
for _sql in AUDIT_TRIGGERS.values():
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
            missing = [name for name in AUDIT_TRIGGERS if name not in present]
            for name in missing:
                conn.execute(text(AUDIT_TRIGGERS[name]))
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
