"""Files served only from where they were checked: the one way an image or video file, a video frame or a face
thumbnail leaves the home through a route (`open_checked` for the files of images and videos, served whole or
by byte ranges from the descriptor it returns; `read_thumbnail` for thumbnails).

A stored path is not trusted: a file under an ingest root may have been swapped for a link to `/etc/shadow`,
an ingest root itself for a link elsewhere, and someone who can write the database can point `images.path` or
`faces.thumbnail` at the home's `audit.key`. So a file is opened without following a link in any component
(`fsutil.open_beneath`), only where it may be (under an ingest root when roots are set, or under the home's
`uploads/`; never elsewhere in the home), read once with a bound, and its SHA-256 compared with the hash stored
at ingest before a byte of it is served. The hash is taken from the open descriptor that is then served, and
remembered per file identity (device, inode, size, modification and change times: the change time cannot be
set back by a user), so the byte ranges of a video are not hashed again on every request. A thumbnail is opened only
beneath `thumbs/` (a name with `..` or an absolute path opens nothing)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
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


_VERIFIED: OrderedDict[tuple[int, ...], str] = OrderedDict()
_VERIFIED_LOCK = threading.Lock()
_VERIFIED_MAX = 4096
_CHUNK = 4 * 2**20


def _open_where_allowed(settings: Settings, stored_path: str | None) -> BinaryIO | None:
    """The stored path opened with no link followed, if it lies where a served file may lie; None otherwise."""
    if not stored_path:
        return None
    path = Path(stored_path)
    if not path.is_absolute() or any(p in ("..", ".") for p in path.parts):
        return None
    homes, uploads = _home_folders(settings)
    roots = [r.expanduser().resolve() for r in settings.ingest_roots]
    upload_base = _under(path, uploads)
    if upload_base is None:
        if _under(path, homes) is not None:
            return None  # the home's database, key, thumbnails, index files: never served as a gallery file
        if roots and _under(path, roots) is None:
            return None
    try:
        if upload_base is not None:
            return open_beneath(upload_base, PurePosixPath(path.relative_to(upload_base)))
        return _open_nofollow(path)
    except (OSError, ValueError):
        return None


def _sha256_of(fh: BinaryIO) -> str:
    digest = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fh.fileno(), _CHUNK, offset):
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


def open_checked(settings: Settings, stored_path: str | None, sha256: str | None) -> BinaryIO | None:
    """The stored file, opened where it may be served and holding the bytes that were ingested (its SHA-256),
    as a blocking descriptor to serve from (the caller closes it); None when it may not be served (missing, a
    link on the way, outside the ingest roots and the home's uploads, elsewhere in the home, not a regular file,
    other bytes). The caller answers every None the same way."""
    if not sha256:
        return None
    fh = _open_where_allowed(settings, stored_path)
    if fh is None:
        return None
    try:
        st = os.fstat(fh.fileno())
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        with _VERIFIED_LOCK:
            known = _VERIFIED.get(key)
        if known is None:
            known = _sha256_of(fh)
            with _VERIFIED_LOCK:
                _VERIFIED[key] = known
                while len(_VERIFIED) > _VERIFIED_MAX:
                    _VERIFIED.popitem(last=False)
        if known != sha256.lower():
            fh.close()
            return None
        os.set_blocking(fh.fileno(), True)
        return fh
    except OSError:
        fh.close()
        return None


def read_checked(settings: Settings, stored_path: str | None, sha256: str | None, max_bytes: int) -> bytes | None:
    """The bytes of a stored file (at most `max_bytes`), read once from where they were checked and compared
    with the stored SHA-256; None when it may not be served (see `open_checked`) or is larger."""
    if not sha256:
        return None
    fh = _open_where_allowed(settings, stored_path)
    if fh is None:
        return None
    with fh:
        try:
            if os.fstat(fh.fileno()).st_size > max_bytes:
                return None
            data = fh.read(max_bytes + 1)
        except OSError:
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
