"""What every use case receives: the deployment's parts (one `Context` per process) and who is acting."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..config import Settings
from ..store import Store
from ..store.audit import HEAD_FILE, AuditLog
from .engine import Engine
from .jobqueue import JobManager
from .throttle import LoginThrottle
from .views import SeenCache


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Actor:
    """The person (or process) a use case acts for: name, role, and where the request came from."""

    name: str
    role: str
    ip: str | None = None
    via: str = "cli"  # cli, session, token, system
    user_id: int | None = None


SYSTEM_ROLE = "system"


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
    def open(cls, settings: Settings | None = None, store: Store | None = None,
             clock: Callable[[], datetime] = utc_now) -> Context:
        settings = settings or Settings()
        settings.home.mkdir(parents=True, exist_ok=True)
        store = store or Store(settings.resolved_database_url)
        return cls(settings=settings, store=store, engine=Engine(settings, store),
                   audit=AuditLog(store, settings.home / HEAD_FILE), clock=clock)

    def now(self) -> datetime:
        return self.clock()

    @property
    def jobs(self) -> JobManager:
        """Background ingest jobs of this process (created on first use)."""
        if self._jobs is None:
            self._jobs = JobManager(self.store.paths_under)
        return self._jobs
