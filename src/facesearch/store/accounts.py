"""Tables of the web service (users, API tokens, browser sessions), and the queries of accounts, tokens and
sessions. The audit log's table and its append-only triggers live with the audit log (`store/audit/table.py`).

Declared on the shared `Base`, so `Store` creates them with the rest of the schema. Secrets are never
stored: passwords as argon2 hashes, tokens and session ids as SHA-256 digests (they are 256-bit random
values, so a fast hash is enough and lookups stay indexed). The rules (who may, password quality, expiry)
are the application's (app/accounts.py); these functions only read and write rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    delete,
    select,
    update,
)
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
