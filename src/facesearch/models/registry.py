"""Which model packs exist, whether their weights are installed, and how to load one.

A pack's weight files (`PackInfo.files`: relative path -> pinned sha256) are looked up first in
FACESEARCH_MODELS_DIR (where `facesearch models pull` downloads), then in the copies shipped with the package
(`facesearch/models/weights/`, the default pack's). Whichever copy is used is checked against its pinned sha256
when the pack loads; a file that passed keeps its verdict for the life of the process, while its size, mtime and
inode stay the same.

OpenVINO packs keep their compiled networks in the home's `cache/openvino` (`compile_cache_dir`), so that a
later process (each CLI command, each ingest worker) imports them instead of compiling them again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..errors import ModelNotFoundError
from . import dlib_pack, synthetic, yunet_reid
from .base import ModelPack, PackInfo


@dataclass
class PackEntry:
    info: PackInfo
    urls: dict[str, str]
    load: Callable[[Settings, int], ModelPack]


def _load_dlib(settings: Settings, threads: int) -> ModelPack:
    return dlib_pack.DlibPack(threads=threads)


def _load_yunet_reid(settings: Settings, threads: int) -> ModelPack:
    return yunet_reid.YunetReidPack(
        verified_weights("yunet-reid", settings),
        threads=threads,
        detect_max_side=settings.detect_max_side,
        min_score=settings.min_detection_score,
        detect_precision=settings.detect_precision,
        cache_dir=compile_cache_dir(settings),
    )


COMPILE_CACHE = ("cache", "openvino")


def compile_cache_dir(settings: Settings) -> Path | None:
    """The home's folder for OpenVINO's compiled networks (made private to the user), or None when it cannot be
    made (a read-only home): the pack then compiles as if it had no cache.

    Why a cache: a network compiles in 0.1 to 0.4 s and a run of photos of mixed sizes compiles several; from the
    cache each loads in a third to a half of that. What it holds is derived from the pinned weights and keyed by
    them, the shape and the runtime's version, so a changed weight file or runtime compiles afresh; it is bounded
    by the shapes the detector keeps (about 0.4 MB each) and may be deleted at any time.
    """
    path = settings.home.joinpath(*COMPILE_CACHE)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


def _load_synthetic(settings: Settings, threads: int) -> ModelPack:
    return synthetic.SyntheticPack(detect_max_side=settings.detect_max_side)


_REAL_PACKS: dict[str, PackEntry] = {
    "dlib": PackEntry(dlib_pack.INFO, {}, _load_dlib),
    "yunet-reid": PackEntry(yunet_reid.INFO, yunet_reid.URLS, _load_yunet_reid),
}
# Packs for tests only: not face models, never a default, invisible unless FACESEARCH_TEST_PACKS=1.
TEST_PACKS_ENV = "FACESEARCH_TEST_PACKS"
_TEST_PACKS: dict[str, PackEntry] = {
    "synthetic": PackEntry(synthetic.INFO, {}, _load_synthetic),
}


def showing_test_packs() -> bool:
    return os.environ.get(TEST_PACKS_ENV, "") == "1"


class _Packs(Mapping[str, PackEntry]):
    """The known packs; the test packs join them only while FACESEARCH_TEST_PACKS=1 (read on each use)."""

    def _visible(self) -> dict[str, PackEntry]:
        return {**_REAL_PACKS, **_TEST_PACKS} if showing_test_packs() else _REAL_PACKS

    def __getitem__(self, name: str) -> PackEntry:
        return self._visible()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._visible())

    def __len__(self) -> int:
        return len(self._visible())


PACKS: Mapping[str, PackEntry] = _Packs()


def get_entry(name: str) -> PackEntry:
    try:
        return PACKS[name]
    except KeyError:
        raise ModelNotFoundError(f"unknown model pack {name!r}; known packs: {', '.join(PACKS)}") from None


def load_pack(name: str, settings: Settings, threads: int | None = None) -> ModelPack:
    return get_entry(name).load(settings, threads or settings.threads_per_worker)


def is_installed(name: str, settings: Settings) -> bool:
    """Whether every weight file is present (FACESEARCH_MODELS_DIR or shipped); their sha256 is checked on load."""
    get_entry(name)
    if name == "dlib":
        try:
            import dlib  # noqa: F401
            import face_recognition_models  # noqa: F401
        except ImportError:
            return False
        return True
    return None not in weight_files(name, settings).values()


SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights"


def weight_files(name: str, settings: Settings) -> dict[str, Path | None]:
    """Where each weight file of a pack is: FACESEARCH_MODELS_DIR first, then the copy shipped in the package
    (None: in neither). Nothing is hashed here."""
    found: dict[str, Path | None] = {}
    for rel in get_entry(name).info.files:
        found[rel] = next(
            (root / rel for root in (settings.resolved_models_dir, SHIPPED_WEIGHTS) if (root / rel).is_file()), None
        )
    return found


def verified_weights(name: str, settings: Settings) -> dict[str, Path]:
    """The weight files a pack loads from, each checked against its pinned sha256; refuses a missing or
    different file, naming it."""
    entry = get_entry(name)
    found = weight_files(name, settings)
    missing = [rel for rel, path in found.items() if path is None]
    if missing:
        raise ModelNotFoundError(
            f"model pack {name!r} is not installed: {', '.join(missing)} found neither in "
            f"{settings.resolved_models_dir} (FACESEARCH_MODELS_DIR) nor among the weights shipped with the "
            f"package ({SHIPPED_WEIGHTS}). Run `facesearch models pull {name}`, or point FACESEARCH_MODELS_DIR "
            "at a folder that holds these files."
        )
    paths = {rel: path for rel, path in found.items() if path is not None}
    for rel, path in paths.items():
        check_sha256(path, entry.info.files[rel], name)
    return paths


_VERIFIED: set[tuple[str, int, int, int, str]] = set()
_VERIFIED_LOCK = threading.Lock()


def check_sha256(path: Path, expected: str, pack: str) -> None:
    """Refuse a weight file whose sha256 is not the pinned one. A file that passed is not hashed again in this
    process while its path, size, mtime and inode stay the same (hashing the default pack's 2.8 MB is a few ms,
    kept off every later load)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino, expected)
    with _VERIFIED_LOCK:
        if key in _VERIFIED:
            return
    actual = sha256_file(path)
    if actual != expected:
        raise ModelNotFoundError(
            f"model pack {pack!r}: {path} has sha256 {actual}, not the pinned {expected}: the file is damaged or "
            f"another version. Remove it (the copy shipped with the package is then used, if any) or run "
            f"`facesearch models pull {pack}` to replace it."
        )
    with _VERIFIED_LOCK:
        _VERIFIED.add(key)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pull(name: str, settings: Settings, timeout: float = 60.0) -> list[Path]:
    """Download a pack's weights from their official locations, verifying each pinned sha256."""
    entry = get_entry(name)
    if name in _TEST_PACKS:
        return []  # no weights
    if not entry.urls:
        raise ModelNotFoundError(f"model pack {name!r} is installed with pip, not pulled: {dlib_pack.INSTALL_HINT}")
    written = []
    for rel, expected in entry.info.files.items():
        target = settings.resolved_models_dir / rel
        if target.is_file() and sha256_file(target) == expected:
            written.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            tmp_path = Path(tmp.name)
            try:
                import urllib.request  # here: only a download needs it

                with urllib.request.urlopen(entry.urls[rel], timeout=timeout) as response:  # noqa: S310
                    shutil.copyfileobj(response, tmp)
            except OSError as exc:
                tmp_path.unlink(missing_ok=True)
                raise ModelNotFoundError(f"download of {entry.urls[rel]} failed: {exc}") from exc
        actual = sha256_file(tmp_path)
        if actual != expected:
            tmp_path.unlink(missing_ok=True)
            raise ModelNotFoundError(f"{rel}: sha256 {actual} does not match the pinned {expected}; not installed")
        tmp_path.replace(target)
        written.append(target)
    return written
