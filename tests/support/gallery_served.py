"""A live web service over a generated gallery (three people, drawn for the `synthetic` pack), for the
browser tests."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pytest

from facesearch.app.context import Actor, Context
from facesearch.store import Store
from support.browser import needs_chromium
from support.synthetic import write_photo

pytestmark = [needs_chromium]
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)


PASSWORD = "correct horse battery"


ROLES = ("admin", "operator", "examiner", "auditor")


# The synthetic identity drawn in each person's photos.
PEOPLE = {"Colin_Powell": 1, "Tony_Blair": 2, "Hugo_Chavez": 3}


PHOTOS_PER_PERSON = 8


GALLERY_PER_PERSON = 3  # photos 0-2 are in the gallery; 3 and later are not


HELD_OUT = 5


PURPOSES = {"e2e": "tests: browser end-to-end"}


SETUP = Actor("tests", "admin", via="system")  # builds the deployment before anyone signs in


OPERATOR = Actor("tests", "operator", via="system")


@dataclass
class Served:
    """The running service's context and the generated photos of each person."""

    ctx: Context
    photos: dict[str, list[Path]]

    @property
    def store(self) -> Store:
        return self.ctx.store

    def held_out(self, name: str) -> Path:
        """A photo of the person that is not in the gallery."""
        return self.photos[name][HELD_OUT]


def _write_photos(folder: Path) -> dict[str, list[Path]]:
    """folder/<name>/<name>_<k>.jpg: each person's marker, every photo with its own seed and variant."""
    return {
        name: [
            write_photo(folder / name / f"{name}_{k:04d}.jpg", [identity], seed=100 * identity + k, variant=k)
            for k in range(PHOTOS_PER_PERSON)
        ]
        for name, identity in PEOPLE.items()
    }


def _manifest(path: Path, photos: dict[str, list[Path]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "source_url", "person"])
        for name, paths in photos.items():
            for p in paths[:GALLERY_PER_PERSON]:
                w.writerow([str(p), f"https://example.org/people/{name}", name])
    return path


def _login(page, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
