"""HTTP API (FastAPI) under /api/v1, and the browser UI it serves."""

from .app import create_app

__all__ = ["create_app"]
