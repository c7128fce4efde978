"""The `facesearch` command line: a thin adapter over the application layer."""

from . import startup
from .main import app

__all__ = ["app", "main"]


def main() -> None:
    """The `facesearch` console script (and `python -m facesearch.cli`)."""
    startup.quicken()
    app(prog_name="facesearch")
