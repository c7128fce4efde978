"""`facesearch db`: the schema version of a home, and upgrading it."""

from __future__ import annotations

import typer
from sqlalchemy.engine import Engine

from ..config import Settings
from .actor import run
from .output import echo_json

db_app = typer.Typer(no_args_is_help=True, help="The database schema: which version a home has; upgrade it.")


def _engine(settings: Settings) -> Engine:
    from sqlalchemy import create_engine

    settings.home.mkdir(parents=True, exist_ok=True)
    return create_engine(settings.resolved_database_url)


@db_app.command("current")
def db_current(as_json: bool = typer.Option(False, "--json")) -> None:
    """The schema revision of this home and the one this version of facesearch needs."""
    from ..store import migrate

    engine = _engine(Settings())
    try:
        info = {"current": migrate.current(engine), "head": migrate.head(), "state": migrate.state(engine)}
    finally:
        engine.dispose()
    if as_json:
        echo_json(info)
        return
    typer.echo(f"schema {info['current'] or '(none)'}; this version needs {info['head']} ({info['state']})")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Upgrade the schema of this home (a home made by an older facesearch) to this version's."""
    from ..store import migrate

    engine = _engine(Settings())
    try:
        before, after = run(lambda: migrate.upgrade(engine))
    finally:
        engine.dispose()
    typer.echo(f"schema {before or '(none)'} -> {after}" if before != after else f"schema already at {after}")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
