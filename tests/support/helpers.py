"""Test data helpers: deterministic LFW subsets copied into a temporary gallery."""

from __future__ import annotations

import shutil
from pathlib import Path

from facesearch.models import get_entry
from facesearch.store import Store
from facesearch.store.schema import Collection
from support.paths import LFW


def lfw_people(min_images: int, count: int, skip: int = 0) -> list[str]:
    """The first `count` identities (alphabetically, after `skip`) with at least `min_images` photos."""
    names = []
    for line in (LFW / "lfw-names.txt").read_text().splitlines():
        name, n = line.split()
        if int(n) >= min_images:
            names.append(name)
    return sorted(names)[skip : skip + count]


def make_gallery(dest: Path, people: list[str], per_person: int) -> dict[str, list[Path]]:
    """Copy the first `per_person` photos of each person into dest/<name>/; returns the held-out rest."""
    held_out: dict[str, list[Path]] = {}
    for name in people:
        photos = sorted((LFW / "deepfunneled" / name).glob("*.jpg"))
        (dest / name).mkdir(parents=True, exist_ok=True)
        for p in photos[:per_person]:
            shutil.copy(p, dest / name / p.name)
        held_out[name] = photos[per_person:]
    return held_out


def create_collection(store: Store, name: str, model: str = "yunet-reid", **fields: object) -> Collection:
    """A documented collection (source, legal basis, owner, retention): ingest refuses any other kind."""
    entry = get_entry(model)
    values: dict[str, object] = {
        "source": "LFW test photos (../shared)",
        "legal_basis": "consent",
        "owner": "tests",
        "keep_until_deleted": "retention_days" not in fields,
    }
    values.update(fields)
    return store.create_collection(name, entry.info.name, entry.info.version, entry.info.dim, **values)
