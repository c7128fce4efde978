"""The per-user search limits of a deployment: kept in the home (the database), set by an admin, audited.

They used to come from each process's environment, so anyone running the command line could lift them for
themselves (`FACESEARCH_SEARCH_RATE_PER_MINUTE=0 facesearch search ...`). Now the limits in force are the
ones an admin set (`facesearch limits set`, `PUT /api/v1/limits`; a `limits_set` entry records each change),
or the built-in defaults (120 per minute, 2000 per UTC day) until one does. A process's own settings
(`FACESEARCH_SEARCH_RATE_PER_MINUTE`, `FACESEARCH_SEARCH_DAILY_QUOTA`) may only make them stricter for that
process: a larger value, or 0 ("no limit"), there is ignored. 0 in the home means no limit."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..config import Settings
from ..store.flags import read_flag, write_flag
from ..vocabulary import Action
from .auditing import record
from .context import Actor, Context
from .errors import Invalid
from .roles import allowed

LIMITS_KEY = "search_limits"
DEFAULT_PER_MINUTE = int(Settings.model_fields["search_rate_per_minute"].default)
DEFAULT_PER_DAY = int(Settings.model_fields["search_daily_quota"].default)
LIMIT_MAX = 10**9


class SearchLimits(BaseModel):
    """The per-user limits in force for this process: what the home says (or the defaults), tightened by this
    process's own settings where they are stricter."""

    per_minute: int = Field(description="Searches and verifies per user per minute (0: no limit).")
    per_day: int = Field(description="Searches and verifies per user per UTC day (0: no limit).")
    source: str = Field(description="`home` (set by an admin) or `default` (never set).")
    set_by: str | None = None
    set_at: str | None = None
    tightened: bool = Field(
        default=False, description="This process's FACESEARCH_SEARCH_* settings make a limit stricter."
    )


def _stricter(base: int, own: int, explicit: bool) -> int:
    """The stricter of two limits, 0 meaning none; a process's own value counts only when it was set."""
    if not explicit or own <= 0:
        return base
    return own if base <= 0 else min(base, own)


def limits_in_force(ctx: Context) -> SearchLimits:
    """The limits every search gate applies (see the module's docstring)."""
    stored = read_flag(ctx.store, LIMITS_KEY) or {}
    per_minute = int(stored.get("per_minute", DEFAULT_PER_MINUTE))
    per_day = int(stored.get("per_day", DEFAULT_PER_DAY))
    given = ctx.settings.model_fields_set
    minute = _stricter(per_minute, ctx.settings.search_rate_per_minute, "search_rate_per_minute" in given)
    day = _stricter(per_day, ctx.settings.search_daily_quota, "search_daily_quota" in given)
    return SearchLimits(
        per_minute=minute,
        per_day=day,
        source="home" if stored else "default",
        set_by=stored.get("set_by"),
        set_at=stored.get("set_at"),
        tightened=(minute, day) != (per_minute, per_day),
    )


@allowed("admin", "examiner", "auditor")
def show_limits(ctx: Context, actor: Actor) -> SearchLimits:
    """The per-user limits in force (examiners see what they are held to; auditors what was set)."""
    return limits_in_force(ctx)


@allowed("admin")
def set_limits(ctx: Context, actor: Actor, per_minute: int | None = None, per_day: int | None = None) -> SearchLimits:
    """Set the deployment's per-user limits in the home (0: no limit); a limit not given keeps its value."""
    stored = read_flag(ctx.store, LIMITS_KEY) or {}
    minute = per_minute if per_minute is not None else int(stored.get("per_minute", DEFAULT_PER_MINUTE))
    day = per_day if per_day is not None else int(stored.get("per_day", DEFAULT_PER_DAY))
    for name, given in (("per_minute", minute), ("per_day", day)):
        if not 0 <= given <= LIMIT_MAX:
            raise Invalid(f"{name} must be a whole number from 0 (no limit) to {LIMIT_MAX}", field=name)
    now = ctx.now()
    value: dict[str, object] = {
        "per_minute": minute,
        "per_day": day,
        "set_by": actor.name,
        "set_at": now.isoformat(timespec="seconds"),
    }
    record(
        ctx,
        actor,
        Action.LIMITS_SET,
        details={
            "per_minute": minute,
            "per_day": day,
            "before": {
                "per_minute": int(stored.get("per_minute", DEFAULT_PER_MINUTE)),
                "per_day": int(stored.get("per_day", DEFAULT_PER_DAY)),
                "source": "home" if stored else "default",
            },
        },
    )
    write_flag(ctx.store, LIMITS_KEY, value, now, actor.name)
    return limits_in_force(ctx)
