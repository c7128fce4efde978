"""What every use case receives: the deployment's parts (one `Context` per process) and who is acting."""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..config import Settings
from ..services.engine import Engine
from ..services.jobqueue import JobManager
from ..services.seen import SeenCache
from ..services.throttle import LoginThrottle
from ..store import Store
from ..store.audit import HEAD_FILE, KEY_FILE, AuditLog, AuditWriteError, verify_chain
from ..store.audit.table import ensure_audit_triggers
from ..store.guard import storage_errors
from ..vocabulary import SYSTEM_ROLE, Action

log = logging.getLogger("facesearch")

# What a home holds that is personal data or protects it: the process creates them 0600 (folders 0700),
# and opening a home tightens these if they are looser. `doctor` checks every file (`--fix` tightens them).
PRIVATE_UMASK = 0o077
HOME_DIRS = ("index", "thumbs", "uploads", "probes", "calibration", "cache", "authorisations")
HOME_FILES = ("facesearch.db", "facesearch.db-wal", "facesearch.db-shm", HEAD_FILE, KEY_FILE)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def secure_home(home: Path) -> None:
    """Make files of this process private (umask 0o077), create the home 0700, and tighten the home, its
    database files and top-level folders if an older version (or a looser umask) left them readable."""
    os.umask(PRIVATE_UMASK)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path, mode in (
        (home, 0o700),
        *((home / d, 0o700) for d in HOME_DIRS),
        *((home / f, 0o600) for f in HOME_FILES),
    ):
        try:
            st = path.lstat()
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
                path.chmod(mode)
        except OSError:
            continue  # absent, or not ours to change (a read-only home): `doctor` reports what stays loose


@dataclass(frozen=True)
class Actor:
    """The person (or process) a use case acts for: name, role, and where the request came from.

    `name` is always who proved it (an account with its credential, or `cli:<operating-system user>`); a name
    claimed without proof is kept apart in `claimed`, and a token someone else made for the account names them
    in `minted_by`. Every audit entry of the actor carries both (`app.auditing.record`)."""

    name: str
    role: str
    ip: str | None = None
    via: str = "cli"  # cli, session, token, system
    user_id: int | None = None
    claimed: str | None = None
    minted_by: str | None = None


def system_actor(task: str) -> Actor:
    """Scheduled work (the retention purge) and ingest hooks act as the system, never as a person."""
    return Actor(f"system:{task}", SYSTEM_ROLE, via="system")


@dataclass
class Context:
    """Settings, store, search engine, audit log and clock of one deployment, shared by every use case.

    A long-lived process (the web service) keeps one; each CLI command opens its own.
    """

    settings: Settings
    store: Store
    engine: Engine
    audit: AuditLog
    clock: Callable[[], datetime] = utc_now
    # The model packs hold native detector and inference objects that are not safe to share between
    # threads, so engine calls take turns; requests still overlap in upload, decode and I/O.
    engine_lock: threading.Lock = field(default_factory=threading.Lock)
    seen: SeenCache = field(default_factory=SeenCache)
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    _jobs: JobManager | None = None

    @classmethod
    def open(
        cls, settings: Settings | None = None, store: Store | None = None, clock: Callable[[], datetime] = utc_now
    ) -> Context:
        settings = settings or Settings()
        secure_home(settings.home)
        with storage_errors():
            return cls._open(settings, store, clock)

    @classmethod
    def _open(cls, settings: Settings, store: Store | None, clock: Callable[[], datetime]) -> Context:
        store = store or Store(settings.resolved_database_url, pool_size=settings.database_pool_size)
        ctx = cls(
            settings=settings,
            store=store,
            engine=Engine(settings, store),
            audit=AuditLog(store, settings.home / HEAD_FILE),
            clock=clock,
        )
        # Someone with the database file (or a PostgreSQL superuser) can drop or disable the append-only
        # triggers; put them back, and say so in the log itself. The chain is checked before that entry is
        # written, and its findings go into the entry: nothing is appended before what was there has been
        # seen (and the writer never starts a missing checkpoint again, nor moves one that no longer matches).
        restored = ensure_audit_triggers(store.database)
        if restored:
            found = verify_chain(store, ctx.audit.head_path, max_problems=10)
            log.warning(
                "the audit log's append-only triggers were missing or disabled and have been restored: %s; "
                "the chain %s",
                ", ".join(restored),
                "verifies" if found.ok else "does NOT verify: " + "; ".join(found.problems[:3]),
            )
            # Written directly: the audit helper (app/auditing.py) is built on this module, not under it.
            who = system_actor("open")
            try:
                ctx.audit.record(
                    Action.AUDIT_TRIGGERS,
                    actor=who.name,
                    role=who.role,
                    outcome="warning",
                    # What verification found, when it found anything.
                    details={"restored": restored}
                    if found.ok
                    else {"restored": restored, "chain_ok": False, "problems": found.problems},
                )
            except AuditWriteError as exc:
                # A log that no longer matches its checkpoint takes no entry; the home still opens, so that
                # `audit verify` can show why and an admin can decide.
                log.warning("%s", exc)
        return ctx

    def now(self) -> datetime:
        return self.clock()

    @property
    def jobs(self) -> JobManager:
        """Background ingest jobs of this process (created on first use)."""
        if self._jobs is None:
            self._jobs = JobManager(self.store.paths_under)
        return self._jobs
