"""The default pack, yunet-reid, ships inside the package: it works offline with an empty FACESEARCH_MODELS_DIR
(no ../shared needed), a copy in FACESEARCH_MODELS_DIR is used first, and every copy is checked against the
pinned sha256 when the pack loads."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from facesearch.cli import app
from facesearch.config import Settings
from facesearch.errors import ModelNotFoundError
from facesearch.models import get_entry, is_installed, load_pack, registry
from facesearch.models.yunet_reid import INFO, REID_BIN, YUNET

DEMO = Path(__file__).resolve().parents[2] / "src" / "facesearch" / "demo"
runner = CliRunner()


@pytest.fixture
def empty_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh install: a temporary home and an EMPTY models folder, no test packs, the default pack."""
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("FACESEARCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FACESEARCH_MODELS_DIR", str(models))
    for name in ("FACESEARCH_DATABASE_URL", "FACESEARCH_MODEL", "FACESEARCH_TEST_PACKS"):
        monkeypatch.delenv(name, raising=False)
    return models


def _copy_shipped(models: Path) -> None:
    for rel in INFO.files:
        (models / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(registry.SHIPPED_WEIGHTS / rel, models / rel)


def test_shipped_files_are_the_pinned_ones_and_small() -> None:
    for rel, sha in INFO.files.items():
        path = registry.SHIPPED_WEIGHTS / rel
        assert path.is_file() and path.stat().st_size < 4 * 1024 * 1024, rel
        assert registry.sha256_file(path) == sha, rel
    licences = (registry.SHIPPED_WEIGHTS / "LICENSES.md").read_text()
    assert "Copyright (c) 2020 Shiqi Yu" in licences and "Apache License, Version 2.0" in licences
    assert all(sha in licences for sha in INFO.files.values())
    assert "TERMS AND CONDITIONS" in (registry.SHIPPED_WEIGHTS / "LICENSE-Apache-2.0.txt").read_text()


def test_default_pack_works_with_an_empty_models_dir(empty_models: Path) -> None:
    settings = Settings(workers=1)
    assert settings.model == "yunet-reid"
    assert is_installed("yunet-reid", settings)
    found = registry.weight_files("yunet-reid", settings)
    assert all(p is not None and registry.SHIPPED_WEIGHTS in p.parents for p in found.values())
    pack = load_pack("yunet-reid", settings, 1)
    image = cv2.imread(str(DEMO / "obama-official-portrait.jpg"))
    detections = pack.detect(image)
    assert len(detections) == 1 and detections.scores[0] > 0.8
    vectors = pack.embed(pack.align(image, detections))
    assert vectors.shape == (1, get_entry("yunet-reid").info.dim)
    assert list(empty_models.iterdir()) == []  # nothing was written there


def test_models_list_marks_yunet_reid_installed_and_default(empty_models: Path) -> None:
    res = runner.invoke(app, ["models", "list", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["yunet-reid"]["installed"] and rows["yunet-reid"]["default"]
    assert rows["yunet-reid"]["weights"] == "package"
    assert not rows["dlib"]["default"] and "synthetic" not in rows
    # `models pull` says the weights are already there, downloads nothing and succeeds (offline).
    res = runner.invoke(app, ["models", "pull", "yunet-reid"])
    assert res.exit_code == 0 and "ship with facesearch" in res.stdout and "--force" in res.stdout, res.output
    assert list(empty_models.iterdir()) == []


def test_a_copy_in_the_models_dir_is_used_first(empty_models: Path) -> None:
    _copy_shipped(empty_models)
    settings = Settings(workers=1)
    assert registry.verified_weights("yunet-reid", settings) == {rel: empty_models / rel for rel in INFO.files}
    res = runner.invoke(app, ["models", "list", "--json"])
    assert {r["name"]: r for r in json.loads(res.stdout)}["yunet-reid"]["weights"] == "models_dir"
    # One file alone there: the others come from the package.
    (empty_models / YUNET).unlink()
    found = registry.verified_weights("yunet-reid", settings)
    assert found[YUNET] == registry.SHIPPED_WEIGHTS / YUNET and found[REID_BIN] == empty_models / REID_BIN


def test_a_corrupted_copy_is_refused_naming_the_file(empty_models: Path) -> None:
    _copy_shipped(empty_models)
    damaged = empty_models / REID_BIN
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    settings = Settings(workers=1)
    assert is_installed("yunet-reid", settings)  # present; the check is on load
    with pytest.raises(
        ModelNotFoundError,
        match=r"face-reidentification-retail-0095\.bin has sha256 .* not the "
        r"pinned 241229ca",
    ):
        load_pack("yunet-reid", settings, 1)
    # The command line says the same, exit 2.
    a = DEMO / "obama-official-portrait.jpg"
    assert runner.invoke(app, ["purposes", "add", "TEST", "--description", "tests"]).exit_code == 0
    res = runner.invoke(app, ["verify", str(a), str(a), "--case", "C-1", "--purpose", "TEST", "--json"])
    assert res.exit_code == 2 and str(damaged) in json.loads(res.stdout)["error"], res.output
    # Removing it falls back to the shipped copy.
    damaged.unlink()
    assert registry.verified_weights("yunet-reid", settings)[REID_BIN] == registry.SHIPPED_WEIGHTS / REID_BIN


def test_the_check_is_cached_per_process(empty_models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _copy_shipped(empty_models)
    settings = Settings(workers=1)
    hashed: list[Path] = []
    real = registry.sha256_file

    def counting(path: Path) -> str:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(registry, "sha256_file", counting)
    registry.verified_weights("yunet-reid", settings)
    assert len(hashed) == len(INFO.files)
    registry.verified_weights("yunet-reid", settings)
    assert len(hashed) == len(INFO.files)  # not hashed again
    # A file changed in place (new mtime) is hashed again, and refused.
    target = empty_models / YUNET
    data = bytearray(target.read_bytes())
    data[100] ^= 0x01
    target.write_bytes(bytes(data))
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    with pytest.raises(ModelNotFoundError, match="face_detection_yunet_2023mar.onnx has sha256"):
        registry.verified_weights("yunet-reid", settings)
    assert hashed[-1] == target


def test_missing_everywhere_says_how_to_install(
    empty_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "SHIPPED_WEIGHTS", tmp_path / "stripped")
    settings = Settings(workers=1)
    assert not is_installed("yunet-reid", settings)
    with pytest.raises(ModelNotFoundError, match="facesearch models pull yunet-reid"):
        load_pack("yunet-reid", settings, 1)


def test_demo_runs_on_the_shipped_pack(empty_models: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["demo"])
    assert res.exit_code == 0, res.output
    assert "model yunet-reid" in res.stdout and "demo-yunet-reid" in res.stdout
    assert "same person" in res.stdout and "different people" in res.stdout
    # In a home of its own, removed at the end: the working home gets no demo collection, purpose or faces.
    used = re.search(r"ran in a temporary home \((.+)\), now removed; your home was not touched", res.stdout)
    assert used and not Path(used.group(1)).exists(), res.stdout
    res = runner.invoke(app, ["collections", "list", "--json"])
    assert json.loads(res.stdout) == []
    assert "DEMO" not in runner.invoke(app, ["purposes", "list"]).stdout
    # Kept where asked, and looked at there.
    kept = tmp_path / "demo-home"
    res = runner.invoke(app, ["demo", "--home", str(kept)])
    assert res.exit_code == 0 and f"kept in {kept}" in res.stdout, res.output
    res = runner.invoke(app, ["collections", "list", "--json"], env={"FACESEARCH_HOME": str(kept)})
    cols = {c["name"]: c for c in json.loads(res.stdout)}
    assert cols["demo-yunet-reid"]["model"] == "yunet-reid" and cols["demo-yunet-reid"]["images"] == 3
    assert runner.invoke(app, ["demo", "--home", str(kept)]).exit_code == 2  # never into an existing folder
    assert json.loads(runner.invoke(app, ["collections", "list", "--json"]).stdout) == []
