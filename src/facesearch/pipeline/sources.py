"""What an ingest reads: the files of a folder or those a CSV manifest lists (with their provenance), and
each file's bytes, read with a size bound and hashed, a file that cannot be read becoming a failure with a
reason instead of an error; video files, told by their content, set apart for their own ingest."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import FacesearchError, ImageError
from . import imaging
from .video.formats import HEAD_BYTES, is_video, sniff

NOT_FOUND = "FILE_NOT_FOUND"

# (path, reason, detail) of a file that could not be ingested.
Failure = tuple[str, str, str]


@dataclass
class Item:
    """One file to ingest, with its provenance."""

    path: Path
    source_url: str | None = None
    meta: dict[str, Any] | None = None
    manifest_row: int | None = None
    # The path was checked against the ingest roots (it is real, with no link in it): read it so that no
    # component may be a link, or a folder swapped for one after the check would be followed out of the roots.
    checked: bool = False


def items_from_folder(root: Path) -> list[Item]:
    """Every file under `root` (or `root` itself), hidden files and folders left out, in a stable order."""
    if not root.exists():
        raise FacesearchError(f"{root} does not exist")
    if root.is_file():
        return [Item(root.resolve())]
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files.extend(Path(dirpath, f).resolve() for f in sorted(filenames) if not f.startswith("."))
    return [Item(p) for p in files]


def items_from_manifest(manifest: Path) -> list[Item]:
    """CSV with a header: path, source_url, then any metadata columns. Paths are relative to the manifest."""
    if not manifest.is_file():
        raise FacesearchError(f"manifest {manifest} does not exist")
    with manifest.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip() for f in (reader.fieldnames or [])]
        if "path" not in fields:
            raise FacesearchError(
                f"manifest {manifest} needs a header row with a 'path' column (path,source_url[,metadata columns])"
            )
        items = []
        for row_number, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            raw = row.pop("path", "")
            if not raw:
                continue
            path = Path(raw).expanduser()
            if not path.is_absolute():
                path = manifest.parent / path
            source_url = row.pop("source_url", "") or None
            meta = {k: v for k, v in row.items() if k and v}
            items.append(Item(path.resolve(), source_url, meta or None, row_number))
    return items


def read_items(
    items: Iterable[tuple[int, Item]],
    max_bytes: int,
    failed: Callable[[Failure], None],
    videos: Callable[[int, Item], None] | None = None,
) -> Iterator[tuple[int, Item, bytes | None, str]]:
    """(key, item, bytes, SHA-256) of each readable file, at most `max_bytes` read (a larger file fails as
    FILE_TOO_LARGE); a missing or unreadable file is handed to `failed` and left out.

    With `videos`, a video file (told by its first bytes, whatever its name) is handed to it instead and never
    read whole here: videos are streamed by their own ingest. A photo costs nothing more: its bytes are read
    anyway, and only a file too large for a photo is opened again to look at its first bytes."""
    for key, item in items:
        try:
            if item.checked:
                present = os.path.lexists(item.path)
                data = imaging.read_file(item.path, max_bytes, nofollow=True) if present else None
            else:
                data = imaging.read_file(item.path, max_bytes) if item.path.exists() else None
        except ImageError as exc:
            if videos is not None and exc.reason == imaging.TOO_LARGE_FILE and is_video(item.path):
                videos(key, item)
                continue
            failed((str(item.path), exc.reason, exc.detail))
            continue
        if data is None:
            failed((str(item.path), NOT_FOUND, "no such file"))
            continue
        if videos is not None and sniff(data[:HEAD_BYTES]) is not None:
            videos(key, item)
            continue
        yield key, item, data, imaging.sha256_bytes(data)
