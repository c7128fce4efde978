"""The ingest quality floor (FACESEARCH_INGEST_MIN_QUALITY, 0.15 by default, measured in docs/accuracy.md):
faces below it are counted and not stored; in a home made before it (a lower floor), `doctor --below-floor`
lists them and the people passes take them out of the people they are in and never put them in one."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
from support.synthetic import photo, write_photo
from typer.testing import CliRunner

from facesearch.app import collection as collections
from facesearch.app.context import Actor, Context
from facesearch.app.doctor import doctor
from facesearch.app.ingest import ingest, items_from_folder
from facesearch.app.people import cluster, list_people
from facesearch.app.purposes import add_purpose
from facesearch.cli import app
from facesearch.config import Settings
from facesearch.services.engine import Engine

OPERATOR = Actor("ops", "operator")
ADMIN = Actor("root", "admin")
EXAMINER = Actor("eve", "examiner")
CASE = {"case_ref": "CASE-FLOOR", "purpose": "test"}


def _blurred_photo(path: Path, identity: int, engine: Engine, seed: int) -> float:
    """A marker photo blurred until its quality is between 0.15 and 0.25 (found, below a floor of 0.25); its
    quality. How far a marker survives blur varies with the photo: the first seed from `seed` that gets there."""
    for s in range(seed, seed + 20):
        image = photo([identity], seed=s)
        x1, _, x2, _ = engine.analyze_probe("synthetic", image).boxes[0]
        for share in [0.02 + 0.002 * k for k in range(10)]:
            blurred = cv2.GaussianBlur(image, (0, 0), share * float(x2 - x1))
            fs = engine.analyze_probe("synthetic", blurred)
            if len(fs) == 1 and 0.16 <= fs.quality[0] < 0.24:
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path.with_suffix(".png")), blurred)
                return float(engine.analyze_probe("synthetic", cv2.imread(str(path.with_suffix(".png")))).quality[0])
    raise AssertionError("no blur gives a quality between 0.16 and 0.24")


def test_the_default_floor_is_the_measured_one() -> None:
    assert Settings().ingest_min_quality == 0.15


def test_a_home_made_before_the_floor(tmp_path: Path, synthetic_env: Path) -> None:
    older = Settings(workers=1, ingest_min_quality=0.0)  # a home ingested before the floor existed
    ctx = Context.open(older)
    add_purpose(ctx, ADMIN, CASE["purpose"], "tests: browsing people")  # browsing people is a search
    collections.create_collection(
        ctx, OPERATOR, "g", source="test", legal_basis="consent", retention_days=None, keep=True
    )
    folder = tmp_path / "g"
    for ident in (0, 1, 2):
        for k in range(2):
            write_photo(folder / f"p{ident}" / f"{k}.jpg", [ident], seed=10 * ident + k, variant=k)
    q = _blurred_photo(folder / "p0" / "blurred.jpg", 0, ctx.engine, seed=99)
    done = ingest(ctx, OPERATOR, items_from_folder(folder), "g", workers=1)
    assert done.faces == 7 and done.faces_below_quality == 0
    cluster(ctx, ADMIN)
    people = list_people(ctx, EXAMINER, **CASE).people
    assert sum(p.face_count for p in people) == 7  # the blurred face is in a person

    # The same home under a floor of 0.25: the blurred face is below it.
    ctx.settings.ingest_min_quality = 0.25
    report = doctor(ctx, OPERATOR, below_floor=True)
    assert report.ok and report.below_floor is not None  # listed, never a problem
    b = report.below_floor
    assert (b.floor, b.faces, b.in_people, b.per_collection) == (0.25, 1, 1, {"g": 1})
    assert b.examples[0].path and b.examples[0].path.endswith("blurred.png") and b.examples[0].quality == round(q, 4)
    assert "below_floor" not in doctor(ctx, OPERATOR).model_dump(mode="json")  # only when asked
    # The next pass takes it out of its person, and no pass puts it back.
    cluster(ctx, ADMIN)
    assert sum(p.face_count for p in list_people(ctx, EXAMINER, **CASE).people) == 6
    assert doctor(ctx, OPERATOR, below_floor=True).below_floor.in_people == 0  # type: ignore[union-attr]
    cluster(ctx, ADMIN, full=True)
    assert sum(p.face_count for p in list_people(ctx, EXAMINER, **CASE).people) == 6

    # New photos under the floor: counted, not stored.
    more = tmp_path / "more"
    _blurred_photo(more / "blurred2.jpg", 1, ctx.engine, seed=98)
    write_photo(more / "sharp.jpg", [2], seed=97)
    done = ingest(ctx, OPERATOR, items_from_folder(more), "g", workers=1)
    assert (done.ingested, done.faces, done.faces_below_quality) == (2, 1, 1)


def test_cli_doctor_lists_faces_below_the_floor(tmp_path: Path, synthetic_env: Path, monkeypatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("FACESEARCH_INGEST_MIN_QUALITY", "0")
    assert (
        runner.invoke(
            app, ["collections", "create", "g", "--source", "t", "--legal-basis", "consent", "--keep"]
        ).exit_code
        == 0
    )
    settings = Settings()
    _blurred_photo(tmp_path / "in" / "b.jpg", 3, Engine(settings), seed=5)
    assert runner.invoke(app, ["ingest", str(tmp_path / "in"), "--collection", "g"]).exit_code == 0
    monkeypatch.setenv("FACESEARCH_INGEST_MIN_QUALITY", "0.25")
    res = runner.invoke(app, ["doctor", "--below-floor"])
    assert res.exit_code == 0, res.output
    assert "faces below the ingest floor 0.25: 1 (1 in g); 1 still in people" in res.stdout and "b.png" in res.stdout
    assert "`facesearch people cluster` takes them out" in res.stdout
    body = json.loads(runner.invoke(app, ["doctor", "--below-floor", "--json"]).stdout)
    assert body["ok"] and body["below_floor"]["faces"] == 1 and body["below_floor"]["examples"][0]["collection"] == "g"
    assert "below_floor" not in json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)
