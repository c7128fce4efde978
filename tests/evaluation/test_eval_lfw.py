"""Eval protocols and report files on small real subsets of LFW and AT&T with the yunet-reid pack."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support.paths import ATT, LFW, MODELS, needs_lfw, needs_yunet
from typer.testing import CliRunner

from evaluation import protocols
from evaluation.datasets import LabelledSet, PairList, lfw_all, read_lfw_pairs
from evaluation.embed import embed_full
from evaluation.groups import lfw_demographics
from evaluation.robustness import Degradation, blur, downscale
from evaluation.runner import EvalOptions, run_eval
from facesearch.config import Settings

pytestmark = [needs_lfw, needs_yunet]


def small_view2(folds: int = 3, per_fold: int = 50) -> tuple[LabelledSet, PairList]:
    """The first `per_fold` pairs (half genuine, half impostor) of the first folds of pairs.txt."""
    pairs, n_folds = read_lfw_pairs(LFW, "pairs.txt")
    per = len(pairs) // n_folds
    chosen = []
    for f in range(folds):
        block = pairs[f * per : (f + 1) * per]
        gen = [p for p in block if p[2]][: per_fold // 2]
        imp = [p for p in block if not p[2]][: per_fold // 2]
        chosen += [(a, b, s, f) for a, b, s in gen + imp]
    paths = sorted({p for a, b, _, _ in chosen for p in (a, b)})
    index = {p: i for i, p in enumerate(paths)}
    ds = LabelledSet("lfw-small-view2", LFW, paths, [p.parent.name for p in paths])
    return ds, PairList(
        [index[a] for a, *_ in chosen],
        [index[b] for _, b, *_ in chosen],
        [s for *_, s, _ in chosen],
        [f for *_, f in chosen],
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def msettings() -> Settings:
    return Settings(models_dir=MODELS, workers=1, home=Path("/nonexistent-facesearch-home"))


def test_view2_subset_three_folds(msettings: Settings, cache: Path) -> None:
    ds, pairs = small_view2()
    assert len(pairs.same) == 150 and set(pairs.fold) == {0, 1, 2}
    e = embed_full(ds, "yunet-reid", msettings, cache)
    ver = protocols.verification(e, pairs, np.ones(len(ds), bool), msettings.probe_min_quality)
    assert ver["folds"] == 3 and ver["pairs"] == 150
    assert ver["accuracy"]["mean"] >= 0.95  # 99.5% on all 6,000 pairs
    assert len(ver["accuracy"]["thresholds"]) == 3
    # Cached: a second call reads the same arrays back.
    again = embed_full(ds, "yunet-reid", msettings, cache)
    assert np.array_equal(again.emb, e.emb) and np.array_equal(again.quality, e.quality)


def lfw_subset(n_multi: int = 30, n_single: int = 40) -> LabelledSet:
    """Real LFW people: the first with 2-6 photos, and single-photo people, sorted for reproducibility."""
    full = lfw_all(LFW)
    by_id: dict[str, list[Path]] = {}
    for p, lab in zip(full.images, full.labels):
        by_id.setdefault(lab, []).append(p)
    multi = [k for k, v in by_id.items() if 2 <= len(v) <= 6][:n_multi]
    single = [k for k, v in by_id.items() if len(v) == 1][:n_single]
    images = [p for k in multi + single for p in by_id[k]]
    return LabelledSet("lfw-subset", LFW / "deepfunneled", images, [p.parent.name for p in images])


def test_run_eval_writes_parseable_report(msettings: Settings, cache: Path, tmp_path: Path) -> None:
    ds = lfw_subset()
    groups = lfw_demographics(LFW / "demographics", ds)
    out = tmp_path / "report"
    exclusions = {ds.labels[0]}  # a whole identity, by name
    opts = EvalOptions(
        pack="yunet-reid",
        out=out,
        cache_dir=cache,
        seed=0,
        groups=groups,
        exclusions=exclusions,
        exclusion_source="test",
        robust_mated=20,
        robust_nonmated=10,
        degradations=[Degradation("blur", "8%", blur(0.08)), Degradation("downscale", "20 px", downscale(20))],
    )
    r = run_eval(ds, opts, msettings, "LFW subset")
    for name in (
        "report.json",
        "report.md",
        "files.txt",
        "roc.png",
        "det.png",
        "histograms.png",
        "groups_fmr.png",
        "robustness.png",
        "strongest_impostors.png",
        "weakest_genuine.png",
    ):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    data = json.loads((out / "report.json").read_text())  # strict JSON: no NaN/Infinity
    assert data == json.loads(json.dumps(r))
    for g in ("female", "male"):
        entry = data["groups"][g]
        for key in ("identities", "fmr", "fnmr", "rank1"):
            assert key in entry
        assert entry["identities"] > 0
    assert "fmr_ratio" in data
    idn = data["identification"]
    assert idn["gallery_size"] == 30 + 20  # one photo per enrolled person + half the single-photo people
    assert 0.8 <= idn["rank1"] <= 1.0
    assert data["exclusions"]["images_excluded"] >= 2
    assert data["exclusions"]["with_exclusions"]["identification"]["gallery_size"] == 29 + 20
    rows = {row["kind"]: row for row in data["robustness"]["rows"]}
    assert set(rows) == {"clean", "blur", "downscale"}
    # The quality gate refuses the degraded probes it should: that is where the errors are.
    assert rows["blur"]["refused_by_gate"] > rows["clean"]["refused_by_gate"]
    assert data["quality_gate"]["gated"]["mated_probes"] <= data["quality_gate"]["ungated"]["mated_probes"]
    md = (out / "report.md").read_text()
    assert "## Groups" in md and "## Robustness" in md and "## Quality gate" in md and "## Exclusions" in md
    from evaluation.docs import write_accuracy_md

    page = write_accuracy_md([("lfw", "yunet-reid", out, data)], tmp_path)
    assert "## Summary" in page and "## Findings" in page and "(report/roc.png)" in page


@pytest.mark.skipif(not ATT.is_dir(), reason=f"AT&T/ORL not present at {ATT}")
def test_cli_eval_folder_and_calibrate_on_att(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from facesearch.cli import app

    monkeypatch.setenv("FACESEARCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FACESEARCH_MODELS_DIR", str(MODELS))
    monkeypatch.setenv("FACESEARCH_WORKERS", "1")
    runner = CliRunner()
    out = tmp_path / "att"
    res = runner.invoke(
        app,
        [
            "eval",
            "folder",
            str(ATT),
            "--model",
            "yunet-reid",
            "--out",
            str(out),
            "--no-robustness",
            "--cache",
            str(tmp_path / "cache"),
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads((out / "report.json").read_text())
    assert data["identification"]["nonmated_probes"] == 100  # a quarter of the 40 people, 10 photos each
    assert data["verification"]["folds"] == 10
    assert data["verification"]["accuracy"]["mean"] > 0.85
    table = tmp_path / "att.json"
    res = runner.invoke(
        app,
        [
            "calibrate",
            "--data",
            str(ATT),
            "--model",
            "yunet-reid",
            "--out",
            str(table),
            "--cache",
            str(tmp_path / "cache"),
        ],
    )
    assert res.exit_code == 0, res.output
    t = json.loads(table.read_text())
    assert t["n_impostor"] > 10 * t["n_genuine"] > 0
