"""Files are served only from where they were checked (issue 18, part B, reproduction 3): an ingested file
swapped for a link or for other bytes, an ingest root swapped for a link while a job runs, and database rows
pointing `images.path` or `faces.thumbnail` at the home's `audit.key` serve nothing."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import update
from support.service import make_env, synthetic_packs
from support.service import wait_job as _wait_job
from support.synthetic import write_photo

from facesearch.app.jobs import _within_roots
from facesearch.config import Settings
from facesearch.pipeline.sources import Item, read_items
from facesearch.store.schema import Face, Image


def _ingest(client: TestClient, h: dict[str, str], folder: Path) -> None:
    r = client.post("/api/v1/ingest", data={"collection": "lfw", "path": str(folder)}, headers=h)
    assert r.status_code == 202, r.text
    assert _wait_job(client, r.json()["id"], h)["status"] == "done"


def test_swapped_files_and_rows_pointing_at_the_key_serve_nothing(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    photos = [write_photo(allowed / f"p{i}.jpg", [i + 1], seed=i) for i in range(3)]
    secret = tmp_path / "outside" / "shadow"
    secret.parent.mkdir()
    secret.write_bytes(b"root:$6$secret-hash:19000:0:99999:7:::\n")
    with synthetic_packs():
        env = make_env(tmp_path / "home", photos=False, ingest_roots=[allowed])
        with TestClient(env.app, base_url="https://testserver") as client:
            h = env.headers("operator")
            _ingest(client, h, allowed)
            with env.store.session() as s:
                rows = {Path(i.path).name: (i.id, i.sha256) for i in s.query(Image)}
                thumbs = [(f.id, f.thumbnail) for f in s.query(Face)]
            ids = {name: rows[name][0] for name in ("p0.jpg", "p1.jpg", "p2.jpg")}
            ok = client.get(f"/api/v1/images/{ids['p0.jpg']}/file", headers=h)
            assert ok.status_code == 200 and ok.content == photos[0].read_bytes()
            face_id = thumbs[0][0]
            assert client.get(f"/api/v1/faces/{face_id}/thumbnail", headers=h).status_code == 200

            # An ingested file replaced by a link to a secret: 0.3.0 served the secret.
            photos[0].unlink()
            photos[0].symlink_to(secret)
            r = client.get(f"/api/v1/images/{ids['p0.jpg']}/file", headers=h)
            assert r.status_code == 404 and b"secret-hash" not in r.content
            # Replaced by other bytes (no link): the SHA-256 stored at ingest no longer matches.
            photos[1].write_bytes(secret.read_bytes())
            r = client.get(f"/api/v1/images/{ids['p1.jpg']}/file", headers=h)
            assert r.status_code == 404 and b"secret-hash" not in r.content

            # Someone who can write the database points a row at the audit key, with its hash.
            key = env.ctx.settings.home / "audit.key"
            key_sha = hashlib.sha256(key.read_bytes()).hexdigest()
            with env.store.database.begin() as conn:
                conn.execute(update(Image).where(Image.id == ids["p2.jpg"]).values(path=str(key), sha256=key_sha))
                conn.execute(update(Face).where(Face.id == face_id).values(thumbnail="../audit.key"))
                conn.execute(update(Face).where(Face.id == thumbs[1][0]).values(thumbnail=str(key)))
            for url in (
                f"/api/v1/images/{ids['p2.jpg']}/file",
                f"/api/v1/faces/{face_id}/thumbnail",
                f"/api/v1/faces/{thumbs[1][0]}/thumbnail",
            ):
                r = client.get(url, headers=h)
                assert r.status_code == 404 and key.read_bytes() not in r.content, url


def test_a_root_swapped_for_a_link_after_the_check_reads_nothing_outside(tmp_path: Path) -> None:
    """The job checks the paths, then reads them: a root swapped for a link in between is not followed."""
    root = tmp_path / "root"
    outside = tmp_path / "elsewhere"
    for i in range(4):
        write_photo(root / "sub" / f"{i}.jpg", [1], seed=i)
        write_photo(outside / "sub" / f"{i}.jpg", [2], seed=10 + i)
    settings = Settings(home=tmp_path / "home", ingest_roots=[root])
    items, refused = _within_roots(settings, [Item(p) for p in sorted((root / "sub").iterdir())])
    assert len(items) == 4 and not refused
    shutil.rmtree(root)
    root.symlink_to(outside)  # what an attacker with write access to the root's parent does mid-job
    failed: list[tuple[str, str, str]] = []
    read = list(read_items(enumerate(items), 10 * 2**20, failed.append))
    assert read == [] and len(failed) == 4
    # The same with a folder inside the root swapped.
    root.unlink()
    (root / "sub").parent.mkdir()
    (root / "sub").symlink_to(outside / "sub")
    failed.clear()
    assert list(read_items(enumerate(items), 10 * 2**20, failed.append)) == [] and len(failed) == 4
