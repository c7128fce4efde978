"""dlib is an optional extra: the default install neither builds nor fetches it (or its ~100 MB weights), and
without it the dlib pack says how to install it. The test tools (`.[dev]`) still bring it, so CI runs the dlib
tests and the face_recognition baseline."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facesearch.cli import app
from facesearch.config import Settings
from facesearch.errors import ModelNotFoundError
from facesearch.models import is_installed, load_pack

ROOT = Path(__file__).resolve().parents[2]
DLIB = {"dlib-bin", "face-recognition-models"}


def _names(requirements: list[str]) -> set[str]:
    return {r.split(">")[0].split("=")[0].split("[")[0].strip() for r in requirements}


def test_dlib_is_an_extra_not_a_dependency() -> None:
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not DLIB & _names(project["dependencies"])
    extras = project["optional-dependencies"]
    assert _names(extras["dlib"]) == DLIB and _names(extras["dev"]) >= DLIB
    assert "'.[dev,dlib]'" in (ROOT / ".ci" / "run").read_text()
    assert "facesearch[dlib]" in (ROOT / "README.md").read_text()


@pytest.fixture
def without_dlib(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """An install without the extra: importing either module fails as it would."""
    monkeypatch.setitem(sys.modules, "dlib", None)
    monkeypatch.setitem(sys.modules, "face_recognition_models", None)


def test_without_the_extra_the_dlib_pack_says_how_to_install_it(without_dlib: None, tmp_path: Path) -> None:
    settings = Settings(workers=1)
    assert not is_installed("dlib", settings) and is_installed("yunet-reid", settings)
    with pytest.raises(ModelNotFoundError, match=r"pip install 'facesearch\[dlib\]'"):
        load_pack("dlib", settings, 1)
    runner = CliRunner()
    res = runner.invoke(app, ["models", "list"])
    assert res.exit_code == 0 and "pip install 'facesearch[dlib]'" in res.stdout
    res = runner.invoke(app, ["models", "pull", "dlib"])
    assert res.exit_code != 0 and "facesearch[dlib]" in res.output
    made = ["collections", "create", "d", "--source", "t", "--legal-basis", "consent", "--keep", "--model", "dlib"]
    assert runner.invoke(app, made).exit_code == 0
    photo = ROOT / "src" / "facesearch" / "demo" / "obama-official-portrait.jpg"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "o.jpg").write_bytes(photo.read_bytes())
    res = runner.invoke(app, ["ingest", str(tmp_path / "in"), "--collection", "d"])
    assert res.exit_code != 0 and "facesearch[dlib]" in res.output
