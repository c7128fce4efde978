"""A small people world on the `synthetic` pack: six photos of five identities (several per photo), ingested
and clustered, with the true identity of every face; and the same world served by the web service."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from facesearch.app import purposes
from facesearch.app.context import Actor, Context
from facesearch.app.ingest import Item, ingest
from facesearch.config import Settings
from facesearch.store import people as people_rows
from support.helpers import create_collection
from support.service import SETUP_OPERATOR, Env, make_env
from support.synthetic import write_photo

API = "/api/v1/people"


OPERATOR = Actor("op", "operator")


EXAMINER = Actor("ann", "examiner")


# Browsing people is a search: the case and purpose the people views are called with.
CASE = {"case_ref": "CASE-PEOPLE", "purpose": "test"}


# photo -> identities in it. A (1) is in 4 photos, B (2) in 3, C (3) in 2, D (4) in 1, E (5) alone twice.
PHOTOS = {
    "p1": [1, 2, 3],
    "p2": [1, 2],
    "p3": [1, 3],
    "p4": [1, 2, 4],
    "p5": [5],
    "p6": [5],
}


def _world(tmp_path: Path) -> tuple[Context, dict[str, Path]]:
    paths = {
        name: write_photo(tmp_path / "g" / f"{name}.jpg", ids, seed=i, size=(760, 300), marker_px=110, variant=i)
        for i, (name, ids) in enumerate(PHOTOS.items())
    }
    ctx = Context.open(Settings(workers=1, model="synthetic"))
    purposes.add_purpose(ctx, Actor("root", "admin"), CASE["purpose"], "tests: browsing people")
    create_collection(ctx.store, "press", model="synthetic")
    res = ingest(ctx, OPERATOR, [Item(p) for p in paths.values()], "press")
    assert res.faces == sum(len(v) for v in PHOTOS.values())
    return ctx, paths


def truth(ctx: Context, paths: dict[str, Path]) -> dict[int, int]:
    """face id -> identity, from the photo's identities in marker order (left to right by x)."""
    by_path = {str(p): name for name, p in paths.items()}
    out: dict[int, int] = {}
    for col in ctx.store.list_collections():
        for ids, _ in ctx.store.iter_embeddings(col.id, col.dim):
            details = ctx.store.face_details([int(i) for i in ids])
            per_image: dict[int, list[tuple[float, int]]] = {}
            for fid, d in details.items():
                per_image.setdefault(d["image_id"], []).append((d["box"][0], fid))
            for faces in per_image.values():
                name = by_path[details[faces[0][1]]["path"]]
                xs = sorted(faces)
                # write_photo places markers at random spots; order them by the identity's embedding instead
                for (_, fid), ident in zip(xs, _order(ctx, [f for _, f in xs], PHOTOS[name])):
                    out[fid] = ident
    return out


def _order(ctx: Context, face_ids: list[int], identities: list[int]) -> list[int]:
    """The identity of each face: the one whose clean marker embedding is closest (the pack is exact)."""
    from facesearch.models import load_pack
    from support.synthetic import photo

    pack = load_pack("synthetic", ctx.settings, 1)
    refs = []
    for ident in identities:
        fs = pack.detect(photo([ident], seed=99))
        refs.append(pack.embed(pack.align(photo([ident], seed=99), fs))[0])
    emb = ctx.store.embeddings(face_ids, 64)
    sims = emb @ np.stack(refs).T
    return [identities[int(j)] for j in sims.argmax(1)]


def groups(ctx: Context) -> dict[int, set[int]]:
    return {pid: set(fs) for pid, fs in people_rows.members(ctx.store).items()}


def _person_with(ctx: Context, paths: dict[str, Path], identity: int) -> int:
    t = truth(ctx, paths)
    for pid, fs in groups(ctx).items():
        if {t[f] for f in fs} == {identity}:
            return pid
    raise AssertionError(identity)


@dataclass
class World:
    """A service whose collection "lfw" holds PHOTOS (A in 4 photos, B in 3, C in 2, D in 1, E alone twice)."""

    env: Env
    client: TestClient
    paths: dict[str, Path]

    @property
    def ctx(self) -> Context:
        return self.env.ctx

    def person(self, identity: int) -> int:
        return self.people(identity)[0]

    def people(self, *identities: int) -> list[int]:
        """The person holding exactly each drawn identity's faces (one look at the truth for all of them)."""
        t = truth(self.ctx, self.paths)
        of = {next(iter(ids)): pid for pid, fs in groups(self.ctx).items() if len(ids := {t[f] for f in fs}) == 1}
        return [of[i] for i in identities]

    def h(self, role: str) -> dict[str, str]:
        return self.env.headers(role)


def build_world(root: Path) -> tuple[Env, dict[str, Path]]:
    """The service and its photos, ingested (the ingest hook groups the faces into people)."""
    env = make_env(root / "home", photos=False)
    paths = {
        name: write_photo(root / "g" / f"{name}.jpg", ids, seed=i, size=(760, 300), marker_px=110, variant=i)
        for i, (name, ids) in enumerate(PHOTOS.items())
    }
    res = ingest(env.ctx, SETUP_OPERATOR, [Item(p) for p in paths.values()], "lfw", workers=1)
    assert res.faces == sum(len(v) for v in PHOTOS.values())
    return env, paths
