"""Which model packs exist, whether their weights are installed, and how to load one."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
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
    return yunet_reid.YunetReidPack(settings.resolved_models_dir, threads=threads,
                                    detect_max_side=settings.detect_max_side,
                                    min_score=settings.min_detection_score)


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
    entry = get_entry(name)
    if name == "dlib":
        try:
            import dlib  # noqa: F401
            import face_recognition_models  # noqa: F401
        except ImportError:
            return False
        return True
    return all((settings.resolved_models_dir / rel).is_file() for rel in entry.info.files)


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
        raise ModelNotFoundError(f"model pack {name!r} is installed with pip, not pulled: "
                                 "`pip install dlib-bin face-recognition-models`")
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
