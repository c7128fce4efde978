"""`facesearch limits`: the per-user search limits of this deployment, kept in the home (admin, logged)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from .actor import call
from .output import emit

if TYPE_CHECKING:
    from ..app import limits

limits_app = typer.Typer(
    no_args_is_help=True,
    help="Per-user search limits, kept in the home: only an admin changes them (logged), and no caller's "
    "environment lifts them.",
)


def _show(res: limits.SearchLimits) -> None:
    def words(n: int, per: str) -> str:
        return f"{n} per user per {per}" if n else f"no limit per {per}"

    origin = f"set by {res.set_by} at {res.set_at}" if res.source == "home" else "defaults, never set"
    typer.echo(f"{words(res.per_minute, 'minute')}, {words(res.per_day, 'UTC day')} ({origin})")
    if res.tightened:
        typer.echo("  stricter in this process: FACESEARCH_SEARCH_RATE_PER_MINUTE / _DAILY_QUOTA")


@limits_app.command("show")
def limits_show(as_json: bool = typer.Option(False, "--json", help="Print the limits as JSON.")) -> None:
    """The per-user limits in force."""
    from ..app import limits

    emit(call(limits.show_limits, as_json=as_json), as_json, _show)


@limits_app.command("set")
def limits_set(
    per_minute: int | None = typer.Option(None, "--per-minute", help="Searches and verifies per user per minute."),
    per_day: int | None = typer.Option(None, "--per-day", help="Searches and verifies per user per UTC day."),
    as_json: bool = typer.Option(False, "--json", help="Print the limits as JSON."),
) -> None:
    """Set the per-user limits of this deployment (0: no limit; admin). Logged (`limits_set`)."""
    from ..app import limits

    emit(call(limits.set_limits, per_minute, per_day, as_json=as_json), as_json, _show)


def register(app: typer.Typer) -> None:
    app.add_typer(limits_app, name="limits")
