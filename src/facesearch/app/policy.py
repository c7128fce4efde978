"""What a search or verify needs before any face is compared: a case reference, an allowed purpose,
searching not suspended, the caller within their limits, and, under a purpose that requires one, a live
authorisation of the case (or its urgent window open). Every entry point goes through here: searches,
verifies, co-appearance searches, watches, browsing people and looking up images and faces by id."""

from __future__ import annotations

from datetime import timedelta

from ..store.audit import count_since
from ..vocabulary import Action
from .authorisations import check_authorisation
from .case_access import check_case_use
from .context import Actor, Context
from .errors import CaseRequired, LimitExceeded
from .limits import limits_in_force
from .purposes import check_purpose
from .suspension import check_not_suspended

CASE_MAX = 200
PURPOSE_MAX = 1000
# What the per-user limits count: everything that compares a photo with the gallery or another photo.
COUNTED = (
    Action.SEARCH.value,
    Action.VERIFY.value,
    Action.SUBJECT_REPORT.value,
    Action.PEOPLE_TOGETHER.value,
    Action.WATCH_ADD.value,
    Action.PEOPLE_VIEW.value,
)


def require_text(value: str | None, name: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise CaseRequired(
            f"a {name} is required: every search and verify is made for a case and a purpose, "
            "both written to the audit log",
            field=name,
        )
    if len(value) > limit:
        raise CaseRequired(f"the {name} is longer than {limit} characters", field=name)
    return value


def purpose_code(purpose: str) -> str:
    """Purposes are given as CODE or 'CODE: note'; the list of allowed purposes holds codes."""
    return purpose.split(":", 1)[0].strip()


def search_gate(ctx: Context, actor: Actor, case_ref: str | None, purpose: str | None) -> tuple[str, str]:
    """Everything a search or verify needs before a face is compared; returns the cleaned (case, purpose).
    The caller records a refusal (`auditing.refusal_recorded`)."""
    case = require_text(case_ref, "case reference", CASE_MAX)
    why = require_text(purpose, "purpose", PURPOSE_MAX)
    check_not_suspended(ctx)
    code = check_purpose(ctx, purpose_code(why))
    check_limits(ctx, actor)
    check_case_use(ctx, actor, case)
    # Last: an urgent use starts its case's urgent window, which an attempt refused for another reason must not.
    check_authorisation(ctx, actor, case, code)
    return case, why


def check_limits(ctx: Context, actor: Actor, counted: tuple[str, ...] = COUNTED) -> None:
    """Per-user searches per minute and per UTC day, counted in the audit log: every process (API workers,
    the CLI) sees the same count, and a restart resets nothing. Searches, verifies and subject reports (a
    search for a data subject) count alike; refused attempts do not. The user is the one who proved who they
    are (`actor.name`), and the limits are the deployment's, kept in the home (`limits`): neither a name
    claimed on the command line nor the caller's environment lifts them."""
    limits = limits_in_force(ctx)
    per_minute, per_day = limits.per_minute, limits.per_day
    now = ctx.now()
    if per_minute > 0:
        since = (now - timedelta(seconds=60)).isoformat(timespec="microseconds")
        if count_since(ctx.store, actor.name, counted, since) >= per_minute:
            raise LimitExceeded(
                f"rate limit: at most {per_minute} searches per minute per user (facesearch limits)", 60
            )
    if per_day > 0:
        day = now.replace(hour=0, minute=0, second=0, microsecond=0).isoformat(timespec="microseconds")
        if count_since(ctx.store, actor.name, counted, day) >= per_day:
            raise LimitExceeded(f"daily quota reached: {per_day} searches per user per day (facesearch limits)", 3600)
