"""Erasure reaches what was derived from a face (issue 18, part B): after an opt-out the person left with no
face goes with its template, name and the correction that named it; `doctor` flags what an older version left;
a backup made after the erasure holds none of it, not even in the database file's free pages."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import faiss
import numpy as np
import pytest
from support.people import OPERATOR, _person_with, _world, groups
from support.synthetic import write_photo

from facesearch.app import optout, people
from facesearch.app.backup import backup
from facesearch.app.context import Actor, Context
from facesearch.app.doctor import doctor
from facesearch.app.rebuild import rebuild
from facesearch.services.uploads import Photo
from facesearch.store import people as people_rows
from facesearch.store.people_tables import Person

ADMIN = Actor("root", "admin")
NAME = "Hugo Chavez-Frias"


@pytest.fixture
def world(synthetic_env: Path, tmp_path: Path) -> tuple[Context, dict[str, Path]]:
    return _world(tmp_path)


def _opt_out_c(ctx: Context, paths: dict[str, Path]) -> None:
    photo = write_photo(paths["p1"].parent / "c.jpg", [3], seed=50)
    optout.add_optout(ctx, OPERATOR, [Photo.from_path(photo, ctx.settings)], "DSR-9")


def test_optout_erases_the_person_template_name_and_correction(world: tuple[Context, dict[str, Path]]) -> None:
    ctx, paths = world
    c = _person_with(ctx, paths, 3)
    people.name_person(ctx, OPERATOR, c, NAME)
    template = bytes(people_rows.get_person(ctx.store, c).template or b"")
    assert template and any(k.name == NAME for k in people_rows.kept_corrections(ctx.store))
    _opt_out_c(ctx, paths)
    # Nothing read people since: the erasure itself removed them.
    assert people_rows.get_person(ctx.store, c) is None
    assert not any(k.name == NAME for k in people_rows.kept_corrections(ctx.store))
    assert people_rows.corrections_naming_erased_faces(ctx.store) == []
    report = doctor(ctx, OPERATOR)
    assert report.ok, report.counts
    # A backup made after the erasure holds neither the template (free pages included) nor the name outside
    # the audit log (whose entry of the correction is the record of who named whom, kept by design).
    out = backup(ctx, ADMIN, ctx.settings.home.parent / "bk")
    db = Path(out.to) / "facesearch.db"
    assert template[:64] not in db.read_bytes()
    assert template[:64] not in (ctx.settings.home / "facesearch.db").read_bytes()
    con = sqlite3.connect(db)
    try:
        assert con.execute("select count(*) from people where name = ?", (NAME,)).fetchone()[0] == 0
        assert con.execute("select count(*) from person_corrections where name = ?", (NAME,)).fetchone()[0] == 0
        assert con.execute("select count(*) from people where template_faces = 0").fetchone()[0] == 0
    finally:
        con.close()


def test_doctor_flags_people_and_corrections_left_by_an_older_erasure(world: tuple[Context, dict[str, Path]]) -> None:
    ctx, paths = world
    c = _person_with(ctx, paths, 3)
    people.name_person(ctx, OPERATOR, c, NAME)
    faces = sorted(groups(ctx)[c])
    # What 0.3.0 left: the faces' rows gone, the person and the correction untouched.
    ctx.store.delete_faces(faces)
    with ctx.store.session.begin() as s:
        s.add(Person(id=999, model="synthetic", name="Left Behind", template=np.ones(64, np.float32).tobytes()))
    report = doctor(ctx, OPERATOR)
    assert not report.ok
    assert report.counts["people_without_faces"] >= 2  # C and the hand-made one
    assert report.counts["corrections_naming_erased_faces"] == 1
    fixed = doctor(ctx, OPERATOR, fix=True)
    assert fixed.fixed
    assert people_rows.get_person(ctx.store, 999) is None and people_rows.get_person(ctx.store, c) is None
    assert not any(k.name == NAME for k in people_rows.kept_corrections(ctx.store))
    after = doctor(ctx, OPERATOR)
    assert after.counts["people_without_faces"] == 0 and after.counts["corrections_naming_erased_faces"] == 0


def test_hnsw_keeps_no_erased_vector_in_the_live_file_nor_the_backup(world: tuple[Context, dict[str, Path]]) -> None:
    """Reproduction 5: `index rebuild --kind hnsw`, an opt-out, then read the erased ids' vectors back."""
    ctx, paths = world
    rebuild(ctx, ADMIN, kind="hnsw")
    c = _person_with(ctx, paths, 3)
    faces = sorted(groups(ctx)[c])
    col = ctx.store.list_collections()[0]
    vecs = ctx.store.embeddings(faces, col.dim)
    _opt_out_c(ctx, paths)
    live = ctx.settings.index_dir / f"collection-{col.id}.faiss"
    out = backup(ctx, ADMIN, ctx.settings.home.parent / "bk-hnsw")
    copied = Path(out.to) / "index" / live.name
    for path in (live, copied):
        index = faiss.read_index(str(path))
        assert "HNSW" in type(faiss.downcast_index(index.index)).__name__
        ids = faiss.vector_to_array(index.id_map)
        for fid in faces:
            if fid in ids:  # a tombstone: its node holds zeros
                assert not np.any(index.reconstruct(int(fid)))
        stored = np.stack([index.reconstruct(int(i)) for i in ids])
        assert float((stored @ vecs.T).max()) < 0.999  # no stored vector is an erased one
    assert doctor(ctx, OPERATOR).counts["index_erased_vectors_kept"] == 0
