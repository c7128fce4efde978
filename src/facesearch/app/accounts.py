"""Accounts: users with one role each, argon2 password hashes, browser sessions with CSRF, API tokens;
sign-in and sign-out. Every change to an account is an admin's, and is logged.

Roles are deliberately disjoint (an admin manages accounts but does not search; an auditor reads the
audit log and nothing else), so that no single account both runs searches and reviews them.

The rows are read and written by `store/accounts.py`; what is decided here is who may, what a password must
be, when a session or token stops counting, and what the audit log says about it.

Sign-in guessing is throttled from the audit log (failed sign-ins for one name from one address), so a restart
does not lift a lockout; an in-process counter also counts an attempt before its slow hash, so parallel guesses
cannot slip past it. A token an admin made for another account is marked on every action taken with it
(`token_minted_by` in the entry's details): the admin held it too.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from ..store import accounts as rows
from ..store.audit import login_failures, token_minter
from ..store.guard import storage_errors
from ..vocabulary import ROLES, Action
from .auditing import record, record_claim
from .context import Actor, Context
from .errors import Invalid, NotFound
from .roles import allowed

if TYPE_CHECKING:
    from argon2 import PasswordHasher

TOKEN_PREFIX = "fs_"
MIN_PASSWORD = 10
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


@functools.cache
def _hasher() -> PasswordHasher:
    """Argon2 and zxcvbn are imported when a password is set or checked, not by every command that opens a home
    (together about a tenth of a second of each start)."""
    from argon2 import PasswordHasher

    return PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so a failed login costs the same either way and response
    time does not reveal which account names exist. Made on the first sign-in, not at import: an Argon2 hash
    costs tens of milliseconds, which every command and every start of the service paid."""
    return _hasher().hash("facesearch-dummy-password")


class AuthError(Invalid):
    """Bad input to an account operation (unknown user, weak password, bad role)."""


# Results ----------------------------------------------------------------------------------------
class UserInfo(BaseModel):
    """An account as listed: never its password hash."""

    model_config = ConfigDict(frozen=True)

    name: str
    role: str
    disabled: bool
    created_at: str | None


class TokenInfo(BaseModel):
    """An API token as listed: its first characters, never the token or its hash."""

    model_config = ConfigDict(frozen=True)

    id: int
    user: str
    label: str
    prefix: str
    created_at: str | None
    revoked: bool


class CreatedToken(BaseModel):
    """A new API token: the token itself is in this answer once, and stored only as a hash."""

    model_config = ConfigDict(frozen=True)

    id: int
    user: str
    token: str = Field(description="The token itself, shown this once.")


@dataclass(frozen=True)
class Account:
    """An account as the rules need it: who, which role, whether it may act."""

    id: int
    name: str
    role: str
    disabled: bool


@dataclass(frozen=True)
class Principal:
    """Who is making a request, and how they proved it."""

    user_id: int
    name: str
    role: str
    via: str  # "session" or "token"
    csrf_token: str | None = None
    session_id_hash: str | None = None
    minted_by: str | None = None  # a token made by someone else: who (see the module's docstring)

    def actor(self, ip: str | None, via: str | None = None) -> Actor:
        return Actor(self.name, self.role, ip=ip, via=via or self.via, user_id=self.user_id, minted_by=self.minted_by)


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt: a session (id for the cookie) or why not, as a user may read it."""

    user: Account | None
    session_id: str | None = None
    refusal: str | None = None
    throttled: bool = False


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns; they were written in UTC.
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _user_info(u: rows.User) -> UserInfo:
    return UserInfo(name=u.name, role=u.role, disabled=bool(u.disabled), created_at=_iso(u.created_at))


def _account(u: rows.User) -> Account:
    return Account(u.id, u.name, u.role, bool(u.disabled))


# Passwords --------------------------------------------------------------------------------------
def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; roles are: {', '.join(ROLES)}")
    return role


# Below this zxcvbn score (0-4; 2 = about 10^8 guesses) a password falls to an offline guesser in minutes:
# zxcvbn (MIT licence) matches the 30,000 most common leaked passwords, English words, names, keyboard walks,
# sequences, repeats, dates and l33t substitutions, so `Qwerty123456`, `abcdefghij` and `1234567890a` are refused.
MIN_PASSWORD_SCORE = 2
# Words a guesser of this deployment tries first, besides the user's own name.
_PRODUCT_WORDS = ("facesearch", "face", "search")


def check_password(name: str, password: str) -> None:
    """At least MIN_PASSWORD characters, not the user name, not one repeated character, and not guessable
    (`MIN_PASSWORD_SCORE`): the rules a password guesser would exploit first."""
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"the password must be at least {MIN_PASSWORD} characters")
    lowered = password.lower()
    if len(name) >= 3 and name.lower() in lowered:
        raise AuthError("the password must not contain the user name")
    # zxcvbn's cost grows with the length; the first 100 characters tell a guessable password apart.
    from zxcvbn import zxcvbn

    if len(set(password)) < 4 or zxcvbn(password[:100], user_inputs=[name, *_PRODUCT_WORDS])["score"] < (
        MIN_PASSWORD_SCORE
    ):
        raise AuthError("that password is too common or too simple; choose a longer passphrase")


def authenticate(ctx: Context, name: str, password: str) -> Account | None:
    """The account if the password is right and the account is enabled, else None (same cost either way)."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    dummy = _dummy_hash()  # before the look-up, whoever signs in: the first sign-in pays for it either way
    user = rows.get_user(ctx.store, name)
    try:
        _hasher().verify(user.password_hash if user else dummy, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    if _hasher().check_needs_rehash(user.password_hash):
        rows.rehash_password(ctx.store, user.id, hash_password(password))
    return _account(user)


# Who is asking (the web service's plumbing calls these for every request) ------------------------
def find_account(ctx: Context, name: str) -> Account | None:
    """The account of that name, if there is one (the command line's `--as NAME`)."""
    with storage_errors():
        user = rows.get_user(ctx.store, name)
    return _account(user) if user is not None else None


def session_principal(ctx: Context, sid: str) -> Principal | None:
    """The signed-in user of a browser session id, or None (unknown, expired, or the account disabled)."""
    if not sid:
        return None
    h = sha256_hex(sid)
    with storage_errors():
        found = rows.session_with_user(ctx.store, h)
    if found is None:
        return None
    sess, user = found
    if user.disabled or _aware(sess.expires_at) < _now():
        return None
    return Principal(user.id, user.name, user.role, "session", sess.csrf_token, h)


def token_principal(ctx: Context, token: str) -> Principal | None:
    """The user an API token acts for, or None (unknown, revoked, or the account disabled). A token someone
    else made for the user carries who (`minted_by`; `unrecorded` when the log has no entry of its making:
    a token written into the database by hand)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    with storage_errors():
        found = rows.token_with_user(ctx.store, sha256_hex(token))
        if found is None:
            return None
        tok, user = found
        if tok.revoked_at is not None or user.disabled:
            return None
        minter = token_minter(ctx.store, tok.id)
    minted_by = None if minter == user.name else (minter or "unrecorded")
    return Principal(user.id, user.name, user.role, "token", minted_by=minted_by)


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected and given and hmac.compare_digest(expected, given))


# Use cases --------------------------------------------------------------------------------------
@allowed("admin")
def add_user(ctx: Context, actor: Actor, name: str, role: str, password: str) -> UserInfo:
    name = name.strip()
    if not _NAME_RE.match(name):
        raise AuthError("user names are 1-100 characters: letters, digits and . _ @ - (not first)")
    check_role(role)
    check_password(name, password)
    user = rows.insert_user(ctx.store, name, role, hash_password(password))
    if user is None:
        raise AuthError(f"user {name!r} already exists")
    record(ctx, actor, Action.USER_ADD, details={"user": user.name, "user_role": user.role})
    return _user_info(user)


@allowed("admin")
def list_users(ctx: Context, actor: Actor) -> list[UserInfo]:
    return [_user_info(u) for u in rows.list_users(ctx.store)]


@allowed("admin")
def change_user(
    ctx: Context, actor: Actor, name: str, *, disabled: bool | None = None, password: str | None = None
) -> UserInfo:
    """Disable (ends sessions, revokes tokens), enable, or set a new password."""
    if rows.get_user(ctx.store, name) is None:
        raise NotFound(f"no user named {name!r}")
    if disabled and name == actor.name:
        raise Invalid("you cannot disable your own account")
    ended = 0
    if password is not None:
        # Whoever knew the old password is signed out; API tokens are not passwords and stay.
        check_password(name, password)
        changed = rows.set_password_hash(ctx.store, name, hash_password(password))
        if changed is None:
            raise AuthError(f"no user named {name!r}")
        ended = changed
    if disabled is not None and not rows.set_disabled(ctx.store, name, disabled):
        raise AuthError(f"no user named {name!r}")
    details: dict[str, object] = {"user": name}
    if disabled is not None:
        details["disabled"] = disabled
    if password is not None:
        details["password_reset"] = True
        details["sessions_ended"] = ended
    record(ctx, actor, Action.USER_CHANGE, details=details)
    user = rows.get_user(ctx.store, name)
    assert user is not None
    return _user_info(user)


@allowed("admin")
def create_token(ctx: Context, actor: Actor, user_name: str, label: str = "") -> CreatedToken:
    """A new API token for a user; the token is in the answer once and stored only as a hash."""
    user = rows.get_user(ctx.store, user_name)
    if user is None:
        raise NotFound(f"no user named {user_name!r}; create it first with `facesearch users add`")
    if user.disabled:
        raise AuthError(f"user {user_name!r} is disabled")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = rows.insert_token(ctx.store, user.id, label, sha256_hex(token), token[:10])
    record(ctx, actor, Action.TOKEN_CREATE, details={"user": user_name, "token_id": token_id, "label": label})
    return CreatedToken(id=token_id, user=user_name, token=token)


@allowed("admin")
def revoke_token(ctx: Context, actor: Actor, key: str) -> int:
    """Revoke by token id, by the token itself, or every token of a user (`user:NAME`); returns how many."""
    if key.isdigit():
        n = rows.revoke_tokens(ctx.store, token_id=int(key))
    elif key.startswith(TOKEN_PREFIX):
        n = rows.revoke_tokens(ctx.store, token_hash=sha256_hex(key))
    elif key.startswith("user:"):
        user = rows.get_user(ctx.store, key[5:])
        if user is None:
            raise AuthError(f"no user named {key[5:]!r}")
        n = rows.revoke_tokens(ctx.store, user_id=user.id)
    else:
        raise AuthError("give a token id, the token itself, or user:NAME")
    if not n:
        raise NotFound(f"no active token matches {key if not key.startswith(TOKEN_PREFIX) else 'that token'}")
    ref = key if not key.startswith(TOKEN_PREFIX) else "token"  # never a secret in the log
    record(ctx, actor, Action.TOKEN_REVOKE, details={"key": ref, "revoked": n})
    return n


@allowed("admin")
def list_tokens(ctx: Context, actor: Actor) -> list[TokenInfo]:
    return [
        TokenInfo(
            id=t.id,
            user=n,
            label=t.label,
            prefix=t.prefix,
            created_at=_iso(t.created_at),
            revoked=t.revoked_at is not None,
        )
        for t, n in rows.list_tokens(ctx.store)
    ]


# After this many failed sign-ins for one name from one address within the window, sign-in is refused until
# the oldest of them leaves it.
LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
THROTTLED = "Too many failed attempts. Wait 15 minutes, or ask an administrator."


def sign_in(ctx: Context, name: str, password: str, ip: str | None) -> SignIn:
    """Check a password, throttle guessing, start a session; every attempt is logged."""
    with storage_errors():
        return _sign_in(ctx, name.strip(), password, ip)


def _locked_out(ctx: Context, name: str, ip: str | None) -> bool:
    """Too many failed sign-ins for this name from this address lately, counted in the audit log (every
    process sees them, and a restart forgets none)."""
    since = (ctx.now() - LOCKOUT_WINDOW).isoformat(timespec="microseconds")
    return login_failures(ctx.store, name, ip, since) >= LOCKOUT_FAILURES


def check_sign_in(ctx: Context, name: str, password: str, ip: str | None) -> SignIn:
    """The account if the password is right, after the lockout; every failure is logged (a success is logged
    by the caller, which knows what the sign-in was for)."""
    key = (ip or "", name.lower())
    # Counted as a failure before the password is checked, so parallel guesses cannot all slip in while
    # the slow hash runs; a right password takes its attempt back.
    if not ctx.login_throttle.attempt(key) or _locked_out(ctx, name, ip):
        record_claim(ctx, name or None, ip, Action.LOGIN_FAILED, outcome="throttled")
        return SignIn(None, refusal=THROTTLED, throttled=True)
    found = authenticate(ctx, name, password) if name and password else None
    if found is None:
        # The attempted name is logged as given; it is not confirmed to exist.
        record_claim(ctx, name or None, ip, Action.LOGIN_FAILED, outcome="refused")
        return SignIn(None, refusal="Wrong user name or password.")
    ctx.login_throttle.clear(key)
    return SignIn(found)


def sign_in_command_line(ctx: Context, name: str, password: str) -> SignIn:
    """A password typed at the command line's prompt: the same lockout as the sign-in page, every attempt
    logged (a success as `login` with `via: cli`); no session is started."""
    with storage_errors():
        checked = check_sign_in(ctx, name.strip(), password, None)
        found = checked.user
        if found is not None:
            record(
                ctx, Actor(found.name, found.role, via="cli", user_id=found.id), Action.LOGIN, details={"via": "cli"}
            )
        return checked


def token_refused(ctx: Context, claimed: str | None) -> None:
    """The audit entry of a command line given a token that is unknown, revoked or of a disabled account."""
    with storage_errors():
        record_claim(ctx, claimed, None, Action.LOGIN_FAILED, outcome="refused")


def _sign_in(ctx: Context, name: str, password: str, ip: str | None) -> SignIn:
    checked = check_sign_in(ctx, name, password, ip)
    found = checked.user
    if found is None:
        return checked
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    rows.insert_session(
        ctx.store, found.id, sha256_hex(sid), csrf, _now() + timedelta(hours=ctx.settings.session_hours), ip
    )
    who = Actor(found.name, found.role, ip=ip, via="session", user_id=found.id)
    record(ctx, who, Action.LOGIN, details={"via": "browser"})
    return SignIn(found, session_id=sid)


@allowed()
def sign_out(ctx: Context, actor: Actor, session_id_hash: str | None) -> None:
    if session_id_hash:
        rows.delete_session(ctx.store, session_id_hash)
    record(ctx, actor, Action.LOGOUT)
