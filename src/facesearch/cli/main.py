"""The `facesearch` command line."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from .. import __version__
from .actor import WHO

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Self-hosted face search: ingest photo collections, search them by face, verify two photos.",
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"facesearch {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
    as_: str | None = typer.Option(
        None,
        "--as",
        envvar="FACESEARCH_ACTOR",
        metavar="NAME",
        help="Act as this account: proven by its token (FACESEARCH_TOKEN, --token-file) or its password, asked "
        "for at a terminal. Without proof the command acts as cli:<your user>, and NAME is logged as claimed.",
    ),
    role: str | None = typer.Option(
        None,
        "--role",
        envvar="FACESEARCH_ROLE",
        help="Role of cli:<your user> (default: the role the command is made for); an account has its own.",
    ),
    token_file: Path | None = typer.Option(
        None,
        "--token-file",
        envvar="FACESEARCH_TOKEN_FILE",
        metavar="FILE",
        help="A file holding an API token: act as its account (or set FACESEARCH_TOKEN).",
    ),
) -> None:
    """Every command acts as a user with a role, and obeys the same rules as the API."""
    WHO.reset(as_, role, token_file)


def _register_areas() -> None:
    from . import (
        accounts,
        backup,
        bench,
        cases,
        db,
        eval,
        governance,
        index,
        limits,
        models,
        people,
        review,
        search,
        system,
    )
    from . import ingest as ingest_area
    from . import watch as watch_area

    for area in (
        ingest_area,
        search,
        models,
        system,
        eval,
        accounts,
        governance,
        review,
        bench,
        db,
        backup,
        index,
        people,
        watch_area,
        cases,
        limits,
    ):
        area.register(app)


_register_areas()


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
