"""Helpers shared by the web service tests: a service (its app and context) with accounts, purposes and
documented collections, and a small gallery of generated photos for the `synthetic` test pack.

The photos come from tests/synthetic.py: one square marker per photo, the marker's grid being the
"identity". They are filed under people's names (Tony_Blair/Tony_Blair_0002.jpg) so that assertions read
like the LFW ones they replace, but they are not faces and the pack is not a face model: tests built on them
prove plumbing (routes, rules, audit, counts), never accuracy. `make_env(..., model="yunet-reid")` and
`lfw_manifest` build the same service on real LFW photos for the few tests that prove something about a
real pack.

Named test_api_* so it sits with the API tests; it holds no tests itself.
"""

from __future__ import annotations

import csv
import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI

from facesearch.app import accounts, limits, purposes
from facesearch.app import collection as collections_uc
from facesearch.app.context import Actor, Context
from facesearch.config import Settings
from facesearch.server import create_app
from facesearch.store import Store
from support.paths import LFW, MODELS, lfw_person
from support.synthetic import write_photo

# The synthetic identity drawn in each person's photos. PEOPLE are in the default gallery; EXTRA is not.
IDENTITIES = {
    "Colin_Powell": 1,
    "Tony_Blair": 2,
    "Donald_Rumsfeld": 3,
    "Gerhard_Schroeder": 4,
    "Hugo_Chavez": 5,
    "Ariel_Sharon": 6,
}
PEOPLE = ["Colin_Powell", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder", "Hugo_Chavez"]
EXTRA = "Ariel_Sharon"
PHOTOS_PER_PERSON = 8
GALLERY_PER_PERSON = 4
PASSWORD = "correct horse battery"
ROLES = ("admin", "operator", "examiner", "auditor")
PERSON_PAGE = "https://example.org/people/{}.html"
LFW_PAGE = "http://vis-www.cs.umass.edu/lfw/person/{}.html"

# Search purposes the tests use (a search with any other purpose is refused with 422).
PURPOSES = {
    "test": "tests: identify a suspect",
    "p": "tests",
    "compare": "tests: compare two photos",
    "x": "tests",
    "e2e": "tests: browser end-to-end",
}

# Who builds the deployment before anyone signs in (as a setup script would, through the use cases).
SETUP_ADMIN = Actor("tests", "admin", via="system")
SETUP_OPERATOR = Actor("tests", "operator", via="system")


@contextmanager
def synthetic_packs() -> Iterator[None]:
    """FACESEARCH_TEST_PACKS=1 and FACESEARCH_MODEL=synthetic for as long as the block runs: the model registry
    reads them on each use, so a module-scoped service needs them for its whole module (the function-scoped
    `synthetic_env` fixture of conftest.py does the same for one test)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACESEARCH_TEST_PACKS", "1")
        mp.setenv("FACESEARCH_MODEL", "synthetic")
        mp.delenv("FACESEARCH_DATABASE_URL", raising=False)
        yield


def write_people(folder: Path, names: list[str] | None = None) -> dict[str, list[Path]]:
    """folder/<name>/<name>_<k>.jpg: PHOTOS_PER_PERSON photos of each person's marker, each with its own seed
    and variant (same identity, different bytes)."""
    out = {}
    for name in names or list(IDENTITIES):
        identity = IDENTITIES[name]
        out[name] = [
            write_photo(folder / name / f"{name}_{k:04d}.jpg", [identity], seed=100 * identity + k, variant=k)
            for k in range(PHOTOS_PER_PERSON)
        ]
    return out


@dataclass
class Env:
    """A service under test: its app (and so its context), an API token per role, and its photos."""

    app: FastAPI
    photos: dict[str, list[Path]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def real(self) -> bool:
        """Built on a real pack and LFW photos (not the synthetic pack and generated ones)."""
        return self.settings.model != "synthetic"

    @property
    def ctx(self) -> Context:
        ctx: Context = self.app.state.ctx
        return ctx

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    @property
    def store(self) -> Store:
        return self.ctx.store

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def person(self, name: str) -> list[Path]:
        """All photos of the person (LFW photos on a real-pack service)."""
        return lfw_person(name) if self.real else self.photos[name]

    def held_out(self, name: str) -> Path:
        """A photo of the person that is not in the gallery."""
        return self.person(name)[GALLERY_PER_PERSON + 1]

    def add_user(self, name: str, role: str) -> None:
        accounts.add_user(self.ctx, SETUP_ADMIN, name, role, PASSWORD)
        self.tokens[name] = accounts.create_token(self.ctx, SETUP_ADMIN, name, "tests").token


def make_settings(home: Path, model: str = "synthetic", **extra: object) -> Settings:
    return Settings(home=home, models_dir=MODELS, model=model, workers=1, ingest_workers=1, database_url=None, **extra)


def make_env(
    home: Path,
    collections: tuple[str, ...] = ("lfw",),
    *,
    model: str = "synthetic",
    photos: bool = True,
    **extra: object,
) -> Env:
    """A service with the test purposes, documented collections and one account (and token) per role, all made
    through the use cases. With the synthetic pack (the default) call it inside `synthetic_packs()` or with
    the `synthetic_env` fixture; its photos are written next to the home unless `photos=False`."""
    settings = make_settings(home, model, **extra)
    env = Env(create_app(settings))
    if not env.real and photos:
        env.photos = write_people(home.parent / "photos")
    for code, description in PURPOSES.items():
        purposes.add_purpose(env.ctx, SETUP_ADMIN, code, description)
    source = "synthetic test photos (tests/synthetic.py)" if model == "synthetic" else "LFW test photos (../shared)"
    for name in collections:  # ingest needs a documented collection
        collections_uc.create_collection(
            env.ctx,
            SETUP_OPERATOR,
            name,
            source=source,
            legal_basis="consent",
            retention_days=None,
            keep=True,
            owner="tests",
        )
    # Per-user limits live in the home: a service asked for no limit (0) gets it there, as an admin sets it
    # (a process's own settings may only make the limits stricter).
    lifted = {k: 0 for k in ("search_rate_per_minute", "search_daily_quota") if extra.get(k) == 0}
    if lifted:
        limits.set_limits(
            env.ctx,
            SETUP_ADMIN,
            0 if "search_rate_per_minute" in lifted else None,
            0 if "search_daily_quota" in lifted else None,
        )
    for role in ROLES:
        env.add_user(role, role)
    return env


def gallery_manifest(env: Env, path: Path, people: list[str] = PEOPLE, per_person: int = GALLERY_PER_PERSON) -> Path:
    """A CSV manifest pointing at the first photos of each person in place (nothing is copied)."""
    page = LFW_PAGE if env.real else PERSON_PAGE
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "source_url", "person"])
        for name in people:
            for photo in env.person(name)[:per_person]:
                w.writerow([str(photo), page.format(name), name])
    return path


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wait_job(client: object, job_id: str, headers: dict[str, str], timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/api/v1/jobs/{job_id}", headers=headers)  # type: ignore[attr-defined]
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] in ("done", "failed"):
            return job
        assert time.monotonic() < deadline, f"job still {job['status']} after {timeout}s"
        time.sleep(0.2)


__all__ = [
    "EXTRA",
    "GALLERY_PER_PERSON",
    "IDENTITIES",
    "LFW",
    "MODELS",
    "PASSWORD",
    "PEOPLE",
    "ROLES",
    "SETUP_ADMIN",
    "SETUP_OPERATOR",
    "Env",
    "gallery_manifest",
    "make_env",
    "make_settings",
    "sha256_file",
    "synthetic_packs",
    "wait_job",
    "write_people",
]
