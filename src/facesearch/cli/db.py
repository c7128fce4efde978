"""`facesearch db`: the schema version of a home, and upgrading it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from .actor import load_settings, run
from .output import emit

if TYPE_CHECKING:
    from ..app.system import SchemaStatus

db_app = typer.Typer(no_args_is_help=True, help="The database schema: which version a home has; upgrade it.")


@db_app.command("current")
def db_current(as_json: bool = typer.Option(False, "--json")) -> None:
    """The schema revision of this home and the one this version of facesearch needs."""
    from ..app.system import schema_status

    def show(info: SchemaStatus) -> None:
        typer.echo(f"schema {info.current or '(none)'}; this version needs {info.head} ({info.state})")

    emit(run(lambda: schema_status(load_settings()), as_json), as_json, show)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Upgrade the schema of this home (a home made by an older facesearch) to this version's."""
    from ..app.system import upgrade_schema

    done = run(lambda: upgrade_schema(load_settings()))
    typer.echo(
        f"schema {done.before or '(none)'} -> {done.after}"
        if done.before != done.after
        else f"schema already at {done.after}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
