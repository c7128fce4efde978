"""Shared fixtures: where ../shared is, and isolated FACESEARCH_HOME per test."""

from __future__ import annotations

from pathlib import Path

import pytest

# The session's Milvus server (started on first use only), for every test module that asks for `milvus_uri`.
from support.milvus_server import milvus_uri  # noqa: F401
from support.paths import MODELS

from facesearch.config import Settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("FACESEARCH_HOME", str(h))
    monkeypatch.setenv("FACESEARCH_MODELS_DIR", str(MODELS))
    monkeypatch.delenv("FACESEARCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("FACESEARCH_MODEL", raising=False)
    return h


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings(workers=1)


@pytest.fixture
def synthetic_env(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The `synthetic` test pack switched on and made the default: plumbing tests without model weights."""
    monkeypatch.setenv("FACESEARCH_TEST_PACKS", "1")
    monkeypatch.setenv("FACESEARCH_MODEL", "synthetic")
    return home
