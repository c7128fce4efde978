"""Small helpers shared by the command-line areas."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer

from .config import Settings

if TYPE_CHECKING:
    from .store import Store


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error (no traceback) and exit with `code`."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def open_store(settings: Settings) -> Store:
    from .store import Store

    settings.home.mkdir(parents=True, exist_ok=True)
    return Store(settings.resolved_database_url)
