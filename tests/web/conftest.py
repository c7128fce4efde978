"""Fixtures of the browser tests: one served gallery and one chromium per module."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.browser import chromium, served
from support.gallery_served import (
    GALLERY_PER_PERSON,
    OPERATOR,
    PASSWORD,
    PEOPLE,
    PURPOSES,
    ROLES,
    SETUP,
    Served,
    _manifest,
    _write_photos,
    playwright_api,
)

from facesearch.app import accounts, purposes
from facesearch.app import collection as collections
from facesearch.app.context import Context
from facesearch.app.ingest import ingest, items_from_manifest
from facesearch.config import Settings
from facesearch.server import create_app


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    root = Path(tmp_path_factory.mktemp("e2e"))
    with pytest.MonkeyPatch.context() as mp:
        # Read by the model registry on each use, by this process's server thread and any ingest worker.
        mp.setenv("FACESEARCH_TEST_PACKS", "1")
        mp.setenv("FACESEARCH_MODEL", "synthetic")
        mp.delenv("FACESEARCH_DATABASE_URL", raising=False)
        settings = Settings(home=root / "home", model="synthetic", workers=1, ingest_workers=1, database_url=None)
        app = create_app(settings)
        ctx: Context = app.state.ctx  # the service's own context: the fixtures act through its use cases
        for code, description in PURPOSES.items():
            purposes.add_purpose(ctx, SETUP, code, description)
        for role in ROLES:
            accounts.add_user(ctx, SETUP, role, role, PASSWORD)
        for name in ("gallery", "e2e-uploads"):  # ingest needs a documented collection
            collections.create_collection(
                ctx,
                OPERATOR,
                name,
                source="synthetic test photos",
                legal_basis="consent",
                retention_days=None,
                keep=True,
                owner="tests",
            )
        photos = _write_photos(root / "photos")
        done = ingest(ctx, OPERATOR, items_from_manifest(_manifest(root / "gallery.csv", photos)), "gallery", workers=1)
        n = len(PEOPLE) * GALLERY_PER_PERSON
        assert (done.model, done.ingested, done.faces) == ("synthetic", n, n), done
        with served(app) as base:
            yield base, Served(ctx, photos)


@pytest.fixture(scope="module")
def browser():
    with chromium(playwright_api) as b:
        yield b
