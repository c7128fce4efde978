"""Account rules that hold whatever the entry point: password quality, a password change signs the old
sessions out, and the sign-in throttle counts an attempt before the slow password check."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from facesearch.app import accounts
from facesearch.app.accounts import AuthError
from facesearch.app.context import Actor, Context
from facesearch.config import Settings
from facesearch.store import audit

ADMIN = Actor("root", "admin")


@pytest.fixture
def ctx(home: Path) -> Context:
    return Context.open(Settings())


@pytest.mark.parametrize(
    "name, password, message",
    [
        ("mallory", "short", "at least"),
        ("mallory", "mallory-is-great", "user name"),
        ("mallory", "password123", "too common"),
        ("mallory", "aaaaaaaaaaaa", "too simple"),
    ],
)
def test_weak_passwords_are_refused(ctx: Context, name: str, password: str, message: str) -> None:
    with pytest.raises(AuthError, match=message):
        accounts.add_user(ctx, ADMIN, name, "examiner", password)
    accounts.add_user(ctx, ADMIN, "ann", "examiner", "a long passphrase")
    with pytest.raises(AuthError, match=message if message != "user name" else "at least|common|simple|name"):
        accounts.change_user(ctx, ADMIN, "ann", password=password if message != "user name" else "ann-rules-ok")


def test_a_new_password_ends_the_other_sessions(ctx: Context) -> None:
    accounts.add_user(ctx, ADMIN, "ann", "examiner", "a long passphrase")
    first = accounts.sign_in(ctx, "ann", "a long passphrase", "10.0.0.1")
    second = accounts.sign_in(ctx, "ann", "a long passphrase", "10.0.0.2")
    assert first.session_id and second.session_id
    assert accounts.session_principal(ctx, first.session_id) is not None
    accounts.change_user(ctx, ADMIN, "ann", password="another long passphrase")
    assert accounts.session_principal(ctx, first.session_id) is None
    assert accounts.session_principal(ctx, second.session_id) is None
    entry = audit.query(ctx.store, action="user_change", limit=1)[0][0]
    assert entry["details"] == {"user": "ann", "password_reset": True, "sessions_ended": 2}
    assert accounts.sign_in(ctx, "ann", "another long passphrase", "10.0.0.1").session_id


def test_parallel_guesses_are_counted_before_the_password_is_checked(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts.add_user(ctx, ADMIN, "ann", "examiner", "a long passphrase")
    checked = []
    real = accounts.authenticate
    barrier = threading.Barrier(30)

    def slow_check(ctx, name, password):  # type: ignore[no-untyped-def]
        checked.append(password)
        return real(ctx, name, password)

    monkeypatch.setattr(accounts, "authenticate", slow_check)

    def guess(n: int) -> None:
        barrier.wait()
        accounts.sign_in(ctx, "ann", f"guess number {n}", "10.0.0.9")

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(checked) == 5, f"{len(checked)} guesses were checked"
    refused = accounts.sign_in(ctx, "ann", "a long passphrase", "10.0.0.9")
    assert refused.throttled and refused.session_id is None
    # Another address is not locked out by these guesses.
    assert accounts.sign_in(ctx, "ann", "a long passphrase", "10.0.0.10").session_id
