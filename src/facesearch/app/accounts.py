"""Accounts: users with one role each, argon2 password hashes, browser sessions with CSRF, API tokens;
sign-in and sign-out. Every change to an account is an admin's, and is logged.

Roles are deliberately disjoint (an admin manages accounts but does not search; an auditor reads the
audit log and nothing else), so that no single account both runs searches and reviews them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select, update

from ..store import Store
from ..store.accounts import ROLES, ApiToken, User, WebSession
from ..store.audit import LOGIN, LOGIN_FAILED, LOGOUT, TOKEN_CREATE, TOKEN_REVOKE, USER_ADD, USER_CHANGE
from .context import Actor, Context
from .errors import Invalid, NotFound
from .roles import allowed

TOKEN_PREFIX = "fs_"
MIN_PASSWORD = 10
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")

_hasher = PasswordHasher()
# Verified against when the user does not exist, so a failed login costs the same either way and
# response time does not reveal which account names exist.
_DUMMY_HASH = _hasher.hash("facesearch-dummy-password")


class AuthError(Invalid):
    """Bad input to an account operation (unknown user, weak password, bad role)."""


@dataclass(frozen=True)
class Principal:
    """Who is making a request, and how they proved it."""

    user_id: int
    name: str
    role: str
    via: str  # "session" or "token"
    csrf_token: str | None = None
    session_id_hash: str | None = None

    def actor(self, ip: str | None) -> Actor:
        return Actor(self.name, self.role, ip=ip, via=self.via, user_id=self.user_id)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns; they were written in UTC.
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# Users ------------------------------------------------------------------------------------------
def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; roles are: {', '.join(ROLES)}")
    return role


# Passwords seen first in every list of leaked ones; a guesser tries these before anything else.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890",
        "12345678910",
        "qwertyuiop",
        "qwertyuiop123",
        "1q2w3e4r5t",
        "1qaz2wsx3edc",
        "password123",
        "password1234",
        "passw0rd123",
        "iloveyou123",
        "administrator",
        "admin12345",
        "letmein123",
        "welcome123",
        "changeme123",
        "abc1234567",
        "football123",
        "baseball123",
        "monkey1234",
        "dragon1234",
        "sunshine123",
        "princess123",
        "trustno1234",
        "0987654321",
        "1111111111",
        "0000000000",
        "123123123123",
        "aaaaaaaaaa",
        "qazwsxedc123",
        "superman123",
        "michael123",
        "password",
        "facesearch",
        "facesearch123",
    }
)


def check_password(name: str, password: str) -> None:
    """At least MIN_PASSWORD characters, not the user name, not a common password, not one repeated
    character: the rules a password guesser would exploit first."""
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"the password must be at least {MIN_PASSWORD} characters")
    lowered = password.lower()
    if len(name) >= 3 and name.lower() in lowered:
        raise AuthError("the password must not contain the user name")
    if lowered in COMMON_PASSWORDS or len(set(password)) < 4:
        raise AuthError("that password is too common or too simple; choose a longer passphrase")


def _add_user(store: Store, name: str, role: str, password: str) -> User:
    if not _NAME_RE.match(name):
        raise AuthError("user names are 1-100 characters: letters, digits and . _ @ - (not first)")
    check_role(role)
    check_password(name, password)
    with store.session.begin() as s:
        if s.scalar(select(User.id).where(User.name == name)) is not None:
            raise AuthError(f"user {name!r} already exists")
        user = User(name=name, role=role, password_hash=hash_password(password))
        s.add(user)
    return user


def get_user(store: Store, name: str) -> User | None:
    with store.session() as s:
        return s.scalar(select(User).where(User.name == name))


def _list_users(store: Store) -> list[User]:
    with store.session() as s:
        return list(s.scalars(select(User).order_by(User.name)))


def _set_password(store: Store, name: str, password: str) -> int:
    """Set a new password and end every browser session of the account (whoever knew the old password is
    signed out); returns how many sessions ended. API tokens are not passwords and stay."""
    check_password(name, password)
    with store.session.begin() as s:
        user = s.scalar(select(User).where(User.name == name))
        if user is None:
            raise AuthError(f"no user named {name!r}")
        user.password_hash = hash_password(password)
        ended = s.execute(delete(WebSession).where(WebSession.user_id == user.id))
        return int(getattr(ended, "rowcount", 0) or 0)


def _set_disabled(store: Store, name: str, disabled: bool) -> None:
    """Disable (or re-enable) an account; disabling also ends its sessions and revokes its tokens."""
    with store.session.begin() as s:
        user = s.scalar(select(User).where(User.name == name))
        if user is None:
            raise AuthError(f"no user named {name!r}")
        user.disabled = disabled
        if disabled:
            s.execute(delete(WebSession).where(WebSession.user_id == user.id))
            s.execute(
                update(ApiToken)
                .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                .values(revoked_at=_now())
            )


def authenticate(store: Store, name: str, password: str) -> User | None:
    """The user if the password is right and the account is enabled, else None (same cost either way)."""
    user = get_user(store, name)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        with store.session.begin() as s:
            s.execute(update(User).where(User.id == user.id).values(password_hash=hash_password(password)))
    return user


# Sessions ---------------------------------------------------------------------------------------
def create_session(store: Store, user: User, hours: float, ip: str | None) -> tuple[str, str]:
    """Start a browser session; returns (session id for the cookie, CSRF token for forms)."""
    sid = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    with store.session.begin() as s:
        # Expired sessions are swept here rather than by a scheduler: logins are frequent enough.
        s.execute(delete(WebSession).where(WebSession.expires_at < _now()))
        s.add(
            WebSession(
                id_hash=sha256_hex(sid),
                user_id=user.id,
                csrf_token=csrf,
                expires_at=_now() + timedelta(hours=hours),
                ip=ip,
            )
        )
    return sid, csrf


def session_principal(store: Store, sid: str) -> Principal | None:
    if not sid:
        return None
    h = sha256_hex(sid)
    with store.session() as s:
        row = s.execute(
            select(WebSession, User).join(User, User.id == WebSession.user_id).where(WebSession.id_hash == h)
        ).first()
    if row is None:
        return None
    sess, user = row
    if user.disabled or _aware(sess.expires_at) < _now():
        return None
    return Principal(user.id, user.name, user.role, "session", sess.csrf_token, h)


def end_session(store: Store, session_id_hash: str) -> None:
    with store.session.begin() as s:
        s.execute(delete(WebSession).where(WebSession.id_hash == session_id_hash))


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected and given and hmac.compare_digest(expected, given))


# API tokens -------------------------------------------------------------------------------------
def _create_token(store: Store, user_name: str, label: str = "") -> tuple[int, str]:
    """A new API token for the user; returns (token id, token). The token is shown once, stored hashed."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with store.session.begin() as s:
        user = s.scalar(select(User).where(User.name == user_name))
        if user is None:
            raise AuthError(f"no user named {user_name!r}; create it first with `facesearch users add`")
        if user.disabled:
            raise AuthError(f"user {user_name!r} is disabled")
        row = ApiToken(user_id=user.id, label=label, token_hash=sha256_hex(token), prefix=token[:10])
        s.add(row)
        s.flush()
        return row.id, token


def _revoke_token(store: Store, key: str) -> int:
    """Revoke by token id, by the token itself, or every token of a user (`user:NAME`); returns how many."""
    with store.session.begin() as s:
        q = update(ApiToken).where(ApiToken.revoked_at.is_(None))
        if key.isdigit():
            q = q.where(ApiToken.id == int(key))
        elif key.startswith(TOKEN_PREFIX):
            q = q.where(ApiToken.token_hash == sha256_hex(key))
        elif key.startswith("user:"):
            uid = s.scalar(select(User.id).where(User.name == key[5:]))
            if uid is None:
                raise AuthError(f"no user named {key[5:]!r}")
            q = q.where(ApiToken.user_id == uid)
        else:
            raise AuthError("give a token id, the token itself, or user:NAME")
        return int(getattr(s.execute(q.values(revoked_at=_now())), "rowcount", 0) or 0)


def _list_tokens(store: Store) -> list[tuple[ApiToken, str]]:
    with store.session() as s:
        rows = s.execute(
            select(ApiToken, User.name).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
        ).all()
    return [(t, n) for t, n in rows]


def token_principal(store: Store, token: str) -> Principal | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    h = sha256_hex(token)
    with store.session() as s:
        row = s.execute(
            select(ApiToken, User).join(User, User.id == ApiToken.user_id).where(ApiToken.token_hash == h)
        ).first()
    if row is None:
        return None
    tok, user = row
    if tok.revoked_at is not None or user.disabled:
        return None
    return Principal(user.id, user.name, user.role, "token")


# Use cases --------------------------------------------------------------------------------------
def user_dict(u: User) -> dict[str, object]:
    return {
        "name": u.name,
        "role": u.role,
        "disabled": bool(u.disabled),
        "created_at": u.created_at.isoformat() if u.created_at else None,
    }


def _who(actor: Actor) -> dict[str, Any]:
    return {"actor": actor.name, "role": actor.role, "ip": actor.ip}


@allowed("admin")
def add_user(ctx: Context, actor: Actor, name: str, role: str, password: str) -> dict[str, object]:
    user = _add_user(ctx.store, name.strip(), role, password)
    ctx.audit.record(USER_ADD, **_who(actor), details={"user": user.name, "user_role": user.role})
    return user_dict(user)


@allowed("admin")
def list_users(ctx: Context, actor: Actor) -> list[dict[str, object]]:
    return [user_dict(u) for u in _list_users(ctx.store)]


@allowed("admin")
def change_user(
    ctx: Context, actor: Actor, name: str, *, disabled: bool | None = None, password: str | None = None
) -> dict[str, object]:
    """Disable (ends sessions, revokes tokens), enable, or set a new password."""
    if get_user(ctx.store, name) is None:
        raise NotFound(f"no user named {name!r}")
    if disabled and name == actor.name:
        raise Invalid("you cannot disable your own account")
    ended = 0
    if password is not None:
        ended = _set_password(ctx.store, name, password)
    if disabled is not None:
        _set_disabled(ctx.store, name, disabled)
    details: dict[str, object] = {"user": name}
    if disabled is not None:
        details["disabled"] = disabled
    if password is not None:
        details["password_reset"] = True
        details["sessions_ended"] = ended
    ctx.audit.record(USER_CHANGE, **_who(actor), details=details)
    user = get_user(ctx.store, name)
    assert user is not None
    return user_dict(user)


@allowed("admin")
def create_token(ctx: Context, actor: Actor, user_name: str, label: str = "") -> dict[str, object]:
    """A new API token for a user; the token is in the answer once and stored only as a hash."""
    if get_user(ctx.store, user_name) is None:
        raise NotFound(f"no user named {user_name!r}; create it first with `facesearch users add`")
    token_id, token = _create_token(ctx.store, user_name, label)
    ctx.audit.record(TOKEN_CREATE, **_who(actor), details={"user": user_name, "token_id": token_id, "label": label})
    return {"id": token_id, "user": user_name, "token": token}


@allowed("admin")
def revoke_token(ctx: Context, actor: Actor, key: str) -> int:
    """Revoke by token id, by the token itself, or every token of a user (`user:NAME`)."""
    n = _revoke_token(ctx.store, key)
    if not n:
        raise NotFound(f"no active token matches {key if not key.startswith(TOKEN_PREFIX) else 'that token'}")
    ref = key if not key.startswith(TOKEN_PREFIX) else "token"  # never a secret in the log
    ctx.audit.record(TOKEN_REVOKE, **_who(actor), details={"key": ref, "revoked": n})
    return n


@allowed("admin")
def list_tokens(ctx: Context, actor: Actor) -> list[dict[str, object]]:
    return [
        {
            "id": t.id,
            "user": n,
            "label": t.label,
            "prefix": t.prefix,
            "created_at": t.created_at.isoformat() if t.created_at else None,
            "revoked": t.revoked_at is not None,
        }
        for t, n in _list_tokens(ctx.store)
    ]


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt: a session (id for the cookie) or why not, as a user may read it."""

    user: User | None
    session_id: str | None = None
    refusal: str | None = None
    throttled: bool = False


def sign_in(ctx: Context, name: str, password: str, ip: str | None) -> SignIn:
    """Check a password, throttle guessing, start a session; every attempt is logged."""
    name = name.strip()
    key = (ip or "", name.lower())
    # Counted as a failure before the password is checked, so parallel guesses cannot all slip in while
    # the slow hash runs; a right password takes its attempt back.
    if not ctx.login_throttle.attempt(key):
        ctx.audit.record(LOGIN_FAILED, actor=name or None, ip=ip, outcome="throttled")
        return SignIn(
            None, refusal="Too many failed attempts. Wait 15 minutes, or ask an administrator.", throttled=True
        )
    user = authenticate(ctx.store, name, password) if name and password else None
    if user is None:
        # The attempted name is logged as given; it is not confirmed to exist.
        ctx.audit.record(LOGIN_FAILED, actor=name or None, ip=ip, outcome="refused")
        return SignIn(None, refusal="Wrong user name or password.")
    ctx.login_throttle.clear(key)
    sid, _csrf = create_session(ctx.store, user, ctx.settings.session_hours, ip)
    ctx.audit.record(LOGIN, actor=user.name, role=user.role, ip=ip, details={"via": "browser"})
    return SignIn(user, session_id=sid)


def sign_out(ctx: Context, actor: Actor, session_id_hash: str | None) -> None:
    if session_id_hash:
        end_session(ctx.store, session_id_hash)
    ctx.audit.record(LOGOUT, **_who(actor))
