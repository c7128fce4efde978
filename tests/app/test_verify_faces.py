"""Verify chooses the faces it compares: a photo of two people (the first large, the second small, from LFW)
against another photo of the second person reads "different people" with the largest face (the default) and
"same person" with the second face, through the command line and the API; every face found is listed and the
compared ones are marked; a face number out of range is refused with the photo's count of faces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.paths import lfw_person, needs_lfw, needs_yunet
from support.service import make_env
from support.two_faces import BIG, SMALL, two_face_photo
from typer.testing import CliRunner

from facesearch.cli import app
from facesearch.config import Settings
from facesearch.store import Store
from facesearch.store.audit import entry_dict, iter_entries

pytestmark = [needs_lfw, needs_yunet]
runner = CliRunner()
CASE = ["--case", "CASE-FACES", "--purpose", "TEST"]


@pytest.fixture
def photos(tmp_path: Path) -> tuple[Path, Path]:
    """(the pair photo, another photo of its second, smaller person)."""
    pair = two_face_photo(tmp_path / "pair.jpg", lfw_person(BIG)[0], lfw_person(SMALL)[0])
    return pair, lfw_person(SMALL)[1]


def _verify(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["verify", *args, *CASE])
    return res.exit_code, res.stdout


def test_cli_verify_compares_the_chosen_face(home: Path, photos: tuple[Path, Path]) -> None:
    pair, other = photos
    assert runner.invoke(app, ["purposes", "add", "TEST", "--description", "tests"]).exit_code == 0
    code, out = _verify(str(pair), str(other), "--json")
    largest = json.loads(out)
    assert code == 1 and not largest["same_person"], out  # the largest face is the other person
    assert [f["face"] for f in largest["faces"]] == [0, 0]
    found = largest["faces_found"]
    assert [len(found[0]), len(found[1])] == [2, 1]
    assert [f["compared"] for f in found[0]] == [True, False] and found[1][0]["compared"]
    assert set(found[0][0]) == {"face", "box", "quality", "quality_reasons", "compared"}
    assert largest["faces"][0]["box"] == found[0][0]["box"]

    code, out = _verify(str(pair), str(other), "--face-a", "1", "--json")
    chosen = json.loads(out)
    assert code == 0 and chosen["same_person"] and chosen["score"] > largest["score"], out
    assert [f["face"] for f in chosen["faces"]] == [1, 0]
    assert [f["compared"] for f in chosen["faces_found"][0]] == [False, True]
    assert chosen["faces"][0]["box"] == chosen["faces_found"][0][1]["box"]

    # The text shows every face of each photo with its box, the compared one marked.
    code, text = _verify(str(pair), str(other), "--face-a", "1")
    assert code == 0 and text.startswith("same person"), text
    assert "pair.jpg: 2 faces, compared face 1" in text and "1 face, compared face 0" in text
    lines = text.splitlines()
    marked = [ln for ln in lines if ln.strip().startswith("* face")]
    assert len(marked) == 2 and marked[0].strip().startswith("* face 1  box ")
    assert any(ln.strip().startswith("face 0  box ") for ln in lines)
    assert "--face-a N" in text

    res = runner.invoke(app, ["verify", str(pair), str(other), "--face-a", "2", *CASE])
    assert res.exit_code == 3 and "--face-a 2 is out of range: the first photo has 2 face(s)" in res.stderr
    # Every comparison is logged with the faces compared.
    logged = [entry_dict(e) for e in iter_entries(Store(Settings().resolved_database_url)) if e.action == "verify"]
    assert [e["details"]["faces"] for e in logged] == [[0, 0], [1, 0], [1, 0], [2, 0]]
    assert [e["outcome"] for e in logged][-1] == "refused"


def test_api_verify_compares_the_chosen_face(tmp_path: Path, photos: tuple[Path, Path]) -> None:
    pair, other = photos
    env = make_env(tmp_path / "home", model="yunet-reid")
    files = {"a": (pair.name, pair.read_bytes()), "b": (other.name, other.read_bytes())}
    with TestClient(env.app, base_url="https://testserver") as client:

        def verify(**fields: str):
            return client.post(
                "/api/v1/verify",
                files=files,
                data={"case_ref": "CASE-FACES", "purpose": "compare", **fields},
                headers=env.headers("examiner"),
            )

        largest = verify().json()
        assert not largest["same_person"] and len(largest["faces_found"][0]) == 2
        chosen = verify(face_a="1").json()
        assert chosen["same_person"] and [f["face"] for f in chosen["faces"]] == [1, 0]
        assert [f["compared"] for f in chosen["faces_found"][0]] == [False, True]
        # Swapped sides: the second photo's face is chosen the same way.
        files = {"a": (other.name, other.read_bytes()), "b": (pair.name, pair.read_bytes())}
        assert verify(face_b="1").json()["same_person"]
        r = verify(face_b="5")
        assert (
            r.status_code == 422 and "--face-b 5 is out of range: the second photo has 2 face(s)" in r.json()["detail"]
        )
        assert verify(face_b="-1").status_code == 422
        # The page's face picker asks for the faces with the comparison's pack.
        d = client.post(
            "/api/v1/detect",
            files={"probe": (pair.name, pair.read_bytes())},
            data={"model": "yunet-reid"},
            headers=env.headers("examiner"),
        ).json()
        assert d["model"] == "yunet-reid" and [f["box"] for f in d["faces"]] == [
            f["box"] for f in largest["faces_found"][0]
        ]
        r = client.post(
            "/api/v1/detect",
            files={"probe": (pair.name, pair.read_bytes())},
            data={"model": "../nope"},
            headers=env.headers("examiner"),
        )
        assert r.status_code == 422
