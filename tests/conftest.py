"""Shared fixtures (an isolated FACESEARCH_HOME per test) and the `slow` mark: tests that need real models,
data sets (../shared), PostgreSQL, Milvus or a browser, which `make fast` leaves out."""

from __future__ import annotations

from pathlib import Path

import pytest

# The session's Milvus server (started on first use only), for every test module that asks for `milvus_uri`.
from support.milvus_server import milvus_uri  # noqa: F401
from support.paths import MODELS

# The session's two-node Ray cluster (started on first use only), for the cluster ingest tests.
from support.ray_cluster import ray_cluster  # noqa: F401

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


# Fixtures that start a real server: a test that uses one is `slow`.
SERVER_FIXTURES = {"milvus_uri", "pg_server", "pg_url", "ray_cluster"}


BENCHMARKS = Path(__file__).parent / "benchmarks"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        needs_real = any(m.kwargs.get("real") for m in item.iter_markers("skipif"))
        benchmark = Path(str(item.fspath)).is_relative_to(BENCHMARKS)  # the benchmarks' smoke runs
        if needs_real or benchmark or SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
