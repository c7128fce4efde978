"""Video through the JSON API, on the `synthetic` test pack: an upload job that takes a video (its progress and
counts), search answers with `video`, an image view of a video, the file served in byte ranges from where it
was checked (a link put in its place is refused), the frame a face was seen on (gated and audited like an
image), and a clip as the probe of `detect` and `search`."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from support.service import make_env, synthetic_packs, wait_job
from support.synthetic import write_photo
from support.videos import marker_clip, write_clip

from facesearch.store.audit import query as audit_query
from facesearch.vocabulary import Action

CLIP = [(1, 0.5, 4.0, 0.02), (2, 2.0, 7.0, 0.5)]
FORM = {"case_ref": "CASE-API-V", "purpose": "test"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = Path(tmp_path_factory.mktemp("video-api"))
    with synthetic_packs():
        env = make_env(root / "home", ("cctv",), photos=False)
        clip = write_clip(root / "clip.mp4", marker_clip(8.0, CLIP))
        photo = write_photo(root / "three.jpg", [3], seed=3)
        with TestClient(env.app, base_url="https://testserver") as client:
            operator = env.headers("operator")
            files = [
                ("files", ("street.mp4", clip.read_bytes(), "video/mp4")),
                ("files", ("three.jpg", photo.read_bytes(), "image/jpeg")),
            ]
            started = client.post(
                "/api/v1/ingest", headers=operator, data={"collection": "cctv", "video_fps": "2"}, files=files
            )
            assert started.status_code == 202, started.text
            job = wait_job(client, started.json()["id"], operator)
            yield env, client, job, root


def test_an_uploaded_video_is_ingested_by_a_job(served) -> None:  # type: ignore[no-untyped-def]
    env, client, job, _ = served
    assert job["status"] == "done" and "video" not in job  # only while a video is being scanned
    counts = job["counts"]
    assert (counts["ingested"], counts["videos"], counts["video_tracks"], counts["faces"]) == (2, 1, 2, 7)
    bad = client.post(
        "/api/v1/ingest", headers=env.headers("operator"), data={"collection": "cctv", "path": "/", "video_fps": "0"}
    )
    assert bad.status_code == 422


def _video(client: TestClient, headers: dict[str, str]) -> dict:  # type: ignore[type-arg]
    """The image view of the ingested video (the job ingests the photo first)."""
    views = [client.get(f"/api/v1/images/{i}", headers=headers).json() for i in (1, 2)]
    return next(v for v in views if "video" in v)


def _search(client: TestClient, headers: dict[str, str], probe: bytes, name: str, **form: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/search", headers=headers, data={**FORM, **form}, files={"probe": (name, probe, "application/x")}
    )


def test_search_image_file_and_frame(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env, client, _, _ = served
    examiner = env.headers("examiner")
    probe = write_photo(tmp_path / "two.jpg", [2], seed=21, variant=1).read_bytes()
    r = _search(client, examiner, probe, "two.jpg")
    assert r.status_code == 200, r.text
    top = r.json()["faces"][0]["matches"][0]
    assert top["video"]["track"] == 1 and (top["video"]["start"], top["video"]["end"]) == (2.0, 6.5)
    assert top["image"]["path"].endswith("street.mp4")
    view = client.get(f"/api/v1/images/{top['image_id']}", headers=examiner).json()
    assert view["video"]["container"] == "mp4" and view["video"]["complete"] is True
    assert view["video"]["sampling_fps"] == 2.0 and view["video"]["issues"] == []
    assert {f["video"]["track"] for f in view["faces"]} == {0, 1} and (view["width"], view["height"]) == (320, 240)

    whole = client.get(view["file_url"], headers=examiner)
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["content-disposition"].startswith("inline")
    data = whole.content
    part = client.get(view["file_url"], headers={**examiner, "Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = client.get(view["file_url"], headers={**examiner, "Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == data[-50:]
    merged = client.get(view["file_url"], headers={**examiner, "Range": "bytes=0-9,5-19,5-19,5-19"})
    assert merged.status_code == 206 and merged.content == data[:20]  # overlaps merged: never multiplied
    assert client.get(view["file_url"], headers={**examiner, "Range": f"bytes={len(data)}-"}).status_code == 416

    frame = client.get(f"/api/v1/faces/{top['face_id']}/frame", headers=examiner)
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(frame.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (240, 320, 3)
    x1, y1, x2, y2 = (int(v) for v in top["box"])
    assert image[y1:y2, x1:x2].mean() > image.mean()  # the marker is where the box says, on that frame
    photo_face = next(m for m in r.json()["faces"][0]["matches"] if "video" not in m)
    assert client.get(f"/api/v1/faces/{photo_face['face_id']}/frame", headers=examiner).status_code == 404
    assert client.get(f"/api/v1/faces/{top['face_id']}/frame", headers=env.headers("auditor")).status_code == 403
    assert client.get(f"/api/v1/faces/{top['face_id']}/frame").status_code == 401


def test_a_frame_or_file_read_without_a_search_is_a_logged_view(served) -> None:  # type: ignore[no-untyped-def]
    env, client, _, _ = served
    env.add_user("newcomer", "examiner")
    h = env.headers("newcomer")
    view = _video(client, env.headers("operator"))
    face_id = view["faces"][0]["face_id"]
    before = audit_query(env.ctx.store, limit=1)[0][0]["seq"]
    case = {"case_ref": "CASE-NEW", "purpose": "test"}  # a lookup by id nobody showed her is a search
    assert client.get(f"/api/v1/faces/{face_id}/frame", params=case, headers=h).status_code == 200
    assert client.get(f"/api/v1/faces/{face_id}/frame", headers=h).status_code == 200
    assert client.get(view["file_url"], headers={**h, "Range": "bytes=0-9"}).status_code == 206
    entries = [e for e in audit_query(env.ctx.store, limit=20)[0] if e["seq"] > before]
    views = [e for e in entries if e["action"] == Action.VIEW_MATCH.value and e["actor"] == "newcomer"]
    assert len(views) == 1 and views[0]["details"]["via"] == "frame"  # once: then it has been seen


def test_a_link_put_in_place_of_the_video_is_not_followed(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env, client, _, _ = served
    examiner = env.headers("examiner")
    view = _video(client, env.headers("operator"))
    path = Path(view["path"])
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the gallery")
    moved = path.with_name("moved.mp4")
    os.replace(path, moved)
    try:
        path.symlink_to(secret)
        assert client.get(view["file_url"], headers=examiner).status_code == 404
        face_id = next(f["face_id"] for f in view["faces"])
        assert client.get(f"/api/v1/faces/{face_id}/frame", headers=examiner).status_code == 404
    finally:
        path.unlink()
        os.replace(moved, path)
    assert client.get(view["file_url"], headers=examiner).status_code == 200


def test_a_clip_is_a_probe(served) -> None:  # type: ignore[no-untyped-def]
    env, client, _, root = served
    examiner = env.headers("examiner")
    clip = write_clip(root / "probe.mkv", marker_clip(3.0, [(3, 0.0, 1.0, 0.05), (2, 0.5, 3.0, 0.5)]), fmt="matroska")
    detected = client.post(
        "/api/v1/detect", headers=examiner, files={"probe": ("p.mkv", clip.read_bytes(), "video/x-matroska")}
    )
    assert detected.status_code == 200, detected.text
    faces = detected.json()["faces"]
    assert [(f["face"], f["video"]["start"]) for f in faces] == [(0, 0.0), (1, 0.5)]
    assert detected.json()["video"]["container"] == "matroska"
    r = _search(client, examiner, clip.read_bytes(), "p.mkv", face="1")
    assert r.status_code == 200, r.text
    face = r.json()["faces"][0]
    assert face["video"]["track"] == 1 and face["matches"][0]["video"]["track"] == 1
    assert r.json()["probe"]["video"]["faces"][1]["start"] == 0.5
    broken = _search(client, examiner, clip.read_bytes()[: len(clip.read_bytes()) // 20], "p.mkv")
    assert broken.status_code == 422 and broken.json()["reason"] in ("NO_FRAMES", "CORRUPT_VIDEO")


def test_erasing_a_video_takes_its_tracks_faces_and_files(served) -> None:  # type: ignore[no-untyped-def]
    env, client, _, _ = served
    view = _video(client, env.headers("operator"))
    thumbs = [env.ctx.settings.thumbs_dir / t for t in _thumbnails(env, view["id"])]
    assert thumbs and all(t.is_file() for t in thumbs)
    gone = client.delete(f"/api/v1/images/{view['id']}", headers=env.headers("operator"))
    assert gone.status_code == 200 and gone.json()["faces"] == 6 and gone.json()["upload_removed"] is True
    assert not any(t.exists() for t in thumbs) and not Path(view["path"]).exists()  # the uploaded copy too
    assert client.get(f"/api/v1/images/{view['id']}", headers=env.headers("examiner")).status_code == 404


def _thumbnails(env, image_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [f.thumbnail for f in env.ctx.store.image_faces(image_id)]


def test_server_side_videos_outside_the_ingest_roots_are_refused(tmp_path: Path) -> None:
    allowed, elsewhere = tmp_path / "allowed", tmp_path / "elsewhere"
    (allowed / "videos").mkdir(parents=True)
    elsewhere.mkdir()
    outside = write_clip(elsewhere / "private.mp4", marker_clip(2.0, [(1, 0.0, 2.0, 0.2)]))
    (allowed / "videos" / "link.mp4").symlink_to(outside)  # a link inside the roots to a video outside them
    write_clip(allowed / "videos" / "inside.mp4", marker_clip(2.0, [(2, 0.0, 2.0, 0.2)]))
    manifest = allowed / "list.csv"
    manifest.write_text(f"path,source_url\n{outside},\nvideos/inside.mp4,\n")
    with synthetic_packs():
        env = make_env(tmp_path / "home", ("cctv",), photos=False, ingest_roots=[allowed])
        with TestClient(env.app, base_url="https://testserver") as client:
            h = env.headers("operator")
            for form in ({"path": str(allowed / "videos")}, {"manifest": str(manifest)}):
                r = client.post("/api/v1/ingest", headers=h, data={"collection": "cctv", **form})
                assert r.status_code == 202, r.text
                job = wait_job(client, r.json()["id"], h)
                reasons = {Path(f["path"]).name: (f["reason"], f["detail"]) for f in job["failures"]}
                # A folder's links are resolved before the check, a manifest's paths too: never read.
                assert reasons == {"private.mp4": ("OUTSIDE_ROOTS", "outside the allowed roots")}
            (col,) = client.get("/api/v1/collections", headers=h).json()["collections"]
            assert col["images"] == 1  # inside.mp4, once
