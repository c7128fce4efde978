"""Files served only from where they were checked: the one way an image file or a face thumbnail leaves the
home through a route (images, and any media served by id, use `read_checked`; thumbnails `read_thumbnail`).

A stored path is not trusted: a file under an ingest root may have been swapped for a link to `/etc/shadow`,
an ingest root itself for a link elsewhere, and someone who can write the database can point `images.path` or
`faces.thumbnail` at the home's `audit.key`. So a file is opened without following a link in any component
(`fsutil.open_beneath`), only where it may be (under an ingest root when roots are set, or under the home's
`uploads/`; never elsewhere in the home), read once with a bound, and its SHA-256 compared with the hash stored
at ingest before a byte of it is served: what is served is exactly what was hashed. A thumbnail is opened only
beneath `thumbs/` (a name with `..` or an absolute path opens nothing)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ..config import Settings
from ..fsutil import open_beneath


def _home_folders(settings: Settings) -> tuple[list[Path], list[Path]]:
    """(the home, as given and resolved), (the home's folders whose files may be served: uploads)."""
    home = [settings.home.absolute(), settings.home.resolve()]
    uploads = [h / "uploads" for h in home]
    return home, uploads


def _under(path: Path, bases: list[Path]) -> Path | None:
    return next((b for b in bases if path.is_relative_to(b) and path != b), None)


def _open_nofollow(path: Path) -> BinaryIO:
    """Open an absolute path with O_NOFOLLOW on every component from the file system's root."""
    return open_beneath(Path("/"), PurePosixPath(path.relative_to(path.anchor)))


def read_checked(settings: Settings, stored_path: str | None, sha256: str | None, max_bytes: int) -> bytes | None:
    """The bytes of a stored file, or None when it may not be served: missing, a link on the way, outside the
    ingest roots and the home's uploads, elsewhere in the home, not a regular file, larger than `max_bytes`, or
    not the file that was ingested (another SHA-256). The caller answers every None the same way, so the reply
    says nothing about what is (or is not) at the path."""
    if not stored_path or not sha256:
        return None
    path = Path(stored_path)
    if not path.is_absolute() or any(p in ("..", ".") for p in path.parts):
        return None
    homes, uploads = _home_folders(settings)
    roots = [r.expanduser().resolve() for r in settings.ingest_roots]
    upload_base = _under(path, uploads)
    if upload_base is None:
        if _under(path, homes) is not None:
            return None  # the home's database, key, thumbnails, index files: never served as an image
        if roots and _under(path, roots) is None:
            return None
    try:
        if upload_base is not None:
            fh = open_beneath(upload_base, PurePosixPath(path.relative_to(upload_base)))
        else:
            fh = _open_nofollow(path)
        with fh:
            if os.fstat(fh.fileno()).st_size > max_bytes:
                return None
            data = fh.read(max_bytes + 1)
    except (OSError, ValueError):
        return None
    if len(data) > max_bytes or hashlib.sha256(data).hexdigest() != sha256.lower():
        return None
    return data


def read_thumbnail(settings: Settings, rel: str | None, max_bytes: int = 4 * 2**20) -> bytes | None:
    """A face thumbnail's bytes, opened only beneath `thumbs/` without following a link; None otherwise."""
    if not rel:
        return None
    try:
        with open_beneath(settings.thumbs_dir, PurePosixPath(rel)) as fh:
            data = fh.read(max_bytes + 1)
    except (OSError, ValueError):
        return None
    return data if len(data) <= max_bytes else None
