"""Shared fixtures: where ../shared is, and isolated FACESEARCH_HOME per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The session's Milvus server (started on first use only), for every test module that asks for `milvus_uri`.
from milvus_server import milvus_uri  # noqa: E402,F401

from facesearch.config import Settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACESEARCH_SHARED", ROOT.parent / "shared"))
MODELS = SHARED / "models"
LFW = SHARED / "datasets" / "lfw"
FR_IMAGES = SHARED / "datasets" / "peers" / "face_recognition" / "tests" / "test_images"
ATT = SHARED / "datasets" / "att_orl"

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"../shared not present at {SHARED}: "
                                  "real models and photos are needed (present in CI)")
needs_lfw = pytest.mark.skipif(not (LFW / "deepfunneled").is_dir(), reason=f"LFW not present at {LFW}")
# yunet-reid's weights ship with the package; this mark only guards against a broken install.
SHIPPED = ROOT / "src" / "facesearch" / "models" / "weights"
needs_yunet = pytest.mark.skipif(not (SHIPPED / "yunet_2023mar").is_dir() and not (MODELS / "yunet_2023mar").is_dir(),
                                 reason=f"yunet-reid weights neither shipped in {SHIPPED} nor in {MODELS}")


def lfw_person(name: str) -> list[Path]:
    return sorted((LFW / "deepfunneled" / name).glob("*.jpg"))


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
