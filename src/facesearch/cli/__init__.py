"""The `facesearch` command line: a thin adapter over the application layer."""

from .main import app

__all__ = ["app"]
