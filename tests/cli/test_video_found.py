"""The goal, end to end on real faces: a person on screen for 2 seconds is found (rank 1 among the video's
tracks, above the search's threshold) when the probe is a clear photo of them. A clip of five LFW people
(each on screen for 2 s, two of them at once at times) is ingested with `facesearch ingest`, and each is
searched for with `facesearch search` and another photo of them. Needs ../shared (LFW) and the shipped pack."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import cv2
import pytest
from support.paths import lfw_person, needs_lfw, needs_yunet
from support.videos import PEOPLE, Appearance, Clip, write_clip
from typer.testing import CliRunner

from facesearch.cli import app
from facesearch.config import Settings
from facesearch.models import load_pack
from facesearch.pipeline.analysis import analyze

pytestmark = [needs_lfw, needs_yunet]
runner = CliRunner()


@functools.cache
def _clear_photos(person: int) -> list[Path]:
    """The person's LFW photos in which the pack finds one face, clear enough to search with."""
    pack = load_pack("yunet-reid", Settings(), 1)
    paths = lfw_person(PEOPLE[person])[:8]
    found = analyze(pack, [cv2.imread(str(p)) for p in paths])
    return [p for p, faces in zip(paths, found) if len(faces) == 1 and faces.quality[0] >= 0.5]


def _ok(*args: str) -> str:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res.stdout


def test_a_person_on_screen_for_two_seconds_is_found_by_a_photo(tmp_path: Path, home: Path) -> None:
    people = range(5)
    appearances = (
        Appearance(_clear_photos(0)[0], 0.5, 2.5, x=0.02, y=0.2, size=0.5, fade=0.3),
        Appearance(_clear_photos(1)[0], 1.0, 3.0, x=0.52, y=0.2, size=0.5, fade=0.3),
        Appearance(_clear_photos(2)[0], 3.5, 5.5, x=0.02, y=0.2, size=0.5, fade=0.3, dx=0.03),
        Appearance(_clear_photos(3)[0], 4.0, 6.0, x=0.52, y=0.1, size=0.6, fade=0.3),
        Appearance(_clear_photos(4)[0], 6.5, 8.5, x=0.25, y=0.1, size=0.6, fade=0.3),
    )
    clip = Clip(9.0, appearances, width=640, height=360, fps=25.0)
    folder = tmp_path / "footage"
    folder.mkdir()
    video = write_clip(folder / "camera-3.mp4", clip, bframes=True)
    _ok("collections", "create", "cctv", "--source", "test footage", "--legal-basis", "consent", "--keep")
    _ok("purposes", "add", "TEST", "--description", "tests")
    summary = json.loads(_ok("ingest", str(folder), "-c", "cctv", "--json"))
    assert summary["videos"] == 1 and summary["failed"] == 0
    assert summary["video_tracks"] >= 5

    for person in people:
        probe = _clear_photos(person)[1]  # another photo of them: not the one on screen
        out = json.loads(_ok("search", str(probe), "--case", "CASE-GOAL", "--purpose", "TEST", "--json"))
        top = out["faces"][0]["matches"][0]
        assert top["image"]["path"] == str(video) and top["above_threshold"], (person, top)
        seen = appearances[person]
        t = top["video"]["time"]
        assert seen.start - seen.fade <= t <= seen.end + seen.fade, (person, top["video"])
        x1, y1, x2, y2 = top["box"]
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        left = (seen.x + seen.dx * (t - seen.start)) * clip.width
        side = seen.size * clip.height
        assert left <= cx <= left + side and seen.y * clip.height <= cy <= seen.y * clip.height + side, (person, top)
        tracks = [(m["video"]["track"]) for m in out["faces"][0]["matches"]]
        assert len(tracks) == len(set(tracks))  # one candidate per track


@pytest.fixture(autouse=True)
def _default_pack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACESEARCH_TEST_PACKS", raising=False)
