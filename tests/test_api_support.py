"""Helpers shared by the web service tests: a service home with accounts and a small real LFW gallery.

Named test_api_* so it sits with the API tests; it holds no tests itself.
"""

from __future__ import annotations

import csv
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from conftest import LFW, MODELS, lfw_person
from helpers import create_collection

from facesearch import auth
from facesearch.config import Settings
from facesearch.store import Store
from facesearch.store.governance_tables import Purpose

PEOPLE = ["Colin_Powell", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder", "Hugo_Chavez"]
GALLERY_PER_PERSON = 4
PASSWORD = "correct horse battery"
ROLES = ("admin", "operator", "examiner", "auditor")
LFW_PAGE = "http://vis-www.cs.umass.edu/lfw/person/{}.html"


@dataclass
class Env:
    settings: Settings
    store: Store
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def make_settings(home: Path, **extra: object) -> Settings:
    return Settings(home=home, models_dir=MODELS, model="yunet-reid", workers=1, ingest_workers=1,
                    database_url=None, **extra)


# Search purposes the tests use (a search with any other purpose is refused with 422).
PURPOSES = {"test": "tests: identify a suspect", "p": "tests", "compare": "tests: compare two photos",
            "x": "tests", "e2e": "tests: browser end-to-end"}


def make_env(home: Path, collections: tuple[str, ...] = ("lfw",), **extra: object) -> Env:
    settings = make_settings(home, **extra)
    home.mkdir(parents=True, exist_ok=True)
    store = Store(settings.resolved_database_url)
    env = Env(settings, store)
    with store.session.begin() as s:
        s.add_all([Purpose(code=c, description=d, created_by="tests") for c, d in PURPOSES.items()])
    for name in collections:  # ingest needs a documented collection
        create_collection(store, name)
    for role in ROLES:
        auth.add_user(store, role, role, PASSWORD)
        env.tokens[role] = auth.create_token(store, role, "tests")[1]
    return env


def gallery_manifest(path: Path, people: list[str] = PEOPLE, per_person: int = GALLERY_PER_PERSON) -> Path:
    """A CSV manifest pointing at LFW photos in place (nothing is copied)."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "source_url", "person"])
        for name in people:
            for photo in lfw_person(name)[:per_person]:
                w.writerow([str(photo), LFW_PAGE.format(name), name])
    return path


def held_out(name: str) -> Path:
    """A photo of the person that is not in the gallery."""
    return lfw_person(name)[GALLERY_PER_PERSON + 1]


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


__all__ = ["LFW", "MODELS", "PASSWORD", "PEOPLE", "ROLES", "Env", "gallery_manifest", "held_out", "make_env",
           "make_settings", "sha256_file", "wait_job"]
