"""Test data helpers: deterministic LFW subsets copied into a temporary gallery."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import LFW


def lfw_people(min_images: int, count: int, skip: int = 0) -> list[str]:
    """The first `count` identities (alphabetically, after `skip`) with at least `min_images` photos."""
    names = []
    for line in (LFW / "lfw-names.txt").read_text().splitlines():
        name, n = line.split()
        if int(n) >= min_images:
            names.append(name)
    return sorted(names)[skip:skip + count]


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
