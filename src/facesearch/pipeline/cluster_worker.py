"""What an ingest actor on a cluster node runs: read and hash files, then decode, analyse and thumbnail those
the driver asks for, handing everything back (the node never touches the home or the database).

Work comes in two calls per batch, so that nothing already stored is analysed: `prepare` reads and hashes a
batch of file references (keeping the bytes for the next call), the driver drops what its database already
holds (content-hash de-duplication, as in a local run), and `analyse` decodes, analyses and thumbnails the
rest. `analyse` takes the hash it expects for each file and reads the file again when the bytes are no longer
kept (the actor was replaced, or its budget was spent), refusing a file whose content changed in between.

Plain Python, no Ray: the Ray executor (`services/ray_executor.py`) runs this class as an actor, with up to
`CONCURRENCY` calls at once, so one batch is read or decoded while the pack analyses another (the decoders and
the runtime release the GIL); the pack itself runs one batch at a time.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import Settings
from ..errors import ImageError
from ..models import get_entry, load_pack
from . import imaging, worker
from .sources import NOT_FOUND
from .video.formats import HEAD_BYTES, is_video, sniff
from .worker import ImageOutcome, Work

CONCURRENCY = 3  # calls an actor runs at once: a prepare and two analyses (one decoding, one in the pack)
KEEP_BYTES = 256 * 1024 * 1024  # file bytes kept between `prepare` and `analyse`; beyond it they are re-read
OUTSIDE_ROOTS = "OUTSIDE_ROOTS"
VIDEO = "VIDEO"  # a read result's "reason" for a video file: handed to the driver, which ingests videos
FILE_CHANGED = "FILE_CHANGED"

# (key, path) of a file to read: the key is the driver's, the path one every node can read.
Ref = tuple[int, str]
# (key, SHA-256 or None, failure reason, failure detail) of a file read (or not).
Prepared = tuple[int, str | None, str, str]
# (key, path, expected SHA-256, thumbnail name prefix) of a file to analyse.
Task = tuple[int, str, str, str]


@dataclass(frozen=True)
class WorkerConfig:
    """What the driver tells its actors: the pack and the settings of the analysis. Never the home, the
    database URL or a key: a node needs none of them."""

    pack: str
    max_file_bytes: int
    max_pixels: int
    max_decode_bytes: int
    detect_max_side: int
    detect_precision: str
    min_face_px: int
    min_detection_score: float
    ingest_min_quality: float
    threads: int
    batch_pixels: int
    models_dir: str | None = None  # the driver's; a node's own FACESEARCH_MODELS_DIR wins
    roots: tuple[str, ...] = field(default_factory=tuple)  # when set, only files under these are read

    @classmethod
    def from_settings(cls, pack: str, settings: Settings, threads: int, batch_pixels: int) -> WorkerConfig:
        explicit = "models_dir" in settings.model_fields_set or bool(os.environ.get("FACESEARCH_MODELS_DIR"))
        return cls(
            pack=pack,
            max_file_bytes=settings.max_file_bytes,
            max_pixels=settings.max_pixels,
            max_decode_bytes=settings.max_decode_bytes,
            detect_max_side=settings.detect_max_side,
            detect_precision=settings.detect_precision,
            min_face_px=settings.min_face_px,
            min_detection_score=settings.min_detection_score,
            ingest_min_quality=settings.ingest_min_quality,
            threads=threads,
            batch_pixels=batch_pixels,
            models_dir=str(settings.resolved_models_dir) if explicit else None,
            roots=tuple(str(r.expanduser().resolve()) for r in settings.ingest_roots),
        )

    def settings(self) -> Settings:
        """The node's settings for the analysis: the driver's values, with the node's own models folder when
        its environment names one. Its home is a scratch folder that nothing is written to."""
        overrides: dict[str, Any] = {
            "max_file_bytes": self.max_file_bytes,
            "max_pixels": self.max_pixels,
            "max_decode_bytes": self.max_decode_bytes,
            "detect_max_side": self.detect_max_side,
            "detect_precision": self.detect_precision,
            "min_face_px": self.min_face_px,
            "min_detection_score": self.min_detection_score,
            "ingest_min_quality": self.ingest_min_quality,
            "threads_per_worker": self.threads,
        }
        if self.models_dir and not os.environ.get("FACESEARCH_MODELS_DIR") and Path(self.models_dir).is_dir():
            overrides["models_dir"] = Path(self.models_dir)
        return Settings(home=Path(tempfile.gettempdir()) / "facesearch-cluster-worker", **overrides)


class ClusterWorker:
    """One model pack, loaded once, and the bytes of files read but not yet analysed."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.settings = config.settings()
        self.pack = load_pack(config.pack, self.settings, config.threads)
        self._roots = [Path(r) for r in config.roots]
        self._pack_lock = threading.Lock()
        self._kept_lock = threading.Lock()
        self._kept: OrderedDict[int, tuple[str, bytes]] = OrderedDict()
        self._kept_bytes = 0

    def identity(self) -> dict[str, Any]:
        """Where this actor runs and what it computes with: the driver refuses a node whose pack or facesearch
        differs from its own (embeddings of another version are not comparable)."""
        info = get_entry(self.config.pack).info
        node = ""
        try:  # the Ray node id, when running as a Ray actor
            import ray

            node = ray.get_runtime_context().get_node_id()
        except Exception:  # outside Ray, or a Ray without it: the host names the node
            node = ""
        return {
            "node": node or socket.gethostname(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "pack": info.name,
            "pack_version": info.version,
            "dim": info.dim,
            "files": dict(info.files),
            "facesearch": __version__,
            "threads": self.config.threads,
        }

    def prepare(self, refs: list[Ref]) -> list[Prepared]:
        """Read and hash each file (bounded in size, regular files only, under the roots when there are
        roots); keep the bytes for `analyse`. A video file is answered as VIDEO, not hashed."""
        out: list[Prepared] = []
        for key, path in refs:
            data = self._read(Path(path))
            if isinstance(data, tuple):
                # A video is told by its first bytes, as a local run tells it (`sources.read_items`): too large
                # for a photo, or a photo-sized file that starts as a video does.
                video = data[0] == imaging.TOO_LARGE_FILE and is_video(Path(path))
                out.append((key, None, VIDEO, "") if video else (key, None, *data))
                continue
            if sniff(data[:HEAD_BYTES]) is not None:
                out.append((key, None, VIDEO, ""))
                continue
            sha = imaging.sha256_bytes(data)
            self._keep(key, sha, data)
            out.append((key, sha, "", ""))
        return out

    def analyse(self, tasks: list[Task]) -> list[ImageOutcome]:
        """Decode, analyse and thumbnail files already hashed, in sub-batches bounded in decoded pixels; the
        thumbnails come back in the outcomes."""
        outcomes: list[ImageOutcome] = []
        batch: list[Work] = []
        pixels = 0
        for key, path, sha, prefix in tasks:
            data = self._take(key, sha, Path(path))
            if isinstance(data, ImageOutcome):
                outcomes.append(data)
                continue
            batch.append((key, data, prefix))
            pixels += imaging.pixel_count(data)
            if pixels >= self.config.batch_pixels:
                outcomes.extend(self._analyse(batch))
                batch, pixels = [], 0
        if batch:
            outcomes.extend(self._analyse(batch))
        return outcomes

    def _analyse(self, batch: list[Work]) -> list[ImageOutcome]:
        decoded = worker.decode_batch(self.settings, batch)  # outside the lock: overlaps another batch's analysis
        with self._pack_lock:
            return worker.analyse_batch(self.pack, self.settings, decoded, carry_thumbnails=True)

    def _outside(self, path: Path) -> bool:
        if not self._roots:
            return False
        try:
            real = path.resolve()
        except (OSError, RuntimeError):
            return True
        return not any(real.is_relative_to(r) for r in self._roots)

    def _read(self, path: Path) -> bytes | tuple[str, str]:
        """A file's bytes, or the (reason, detail) it cannot be ingested for: the same reasons as a local run
        (`pipeline/sources.read_items`), and files outside the roots refused before anything is read."""
        if self._outside(path):
            return OUTSIDE_ROOTS, "outside the allowed roots"
        try:
            if self._roots:  # read the path that was checked, with no link followed on the way (a swapped root)
                real = path.resolve()
                if not os.path.lexists(real):
                    return NOT_FOUND, "no such file"
                return imaging.read_file(real, self.config.max_file_bytes, nofollow=True)
            if not path.exists():
                return NOT_FOUND, "no such file"
            return imaging.read_file(path, self.config.max_file_bytes)
        except ImageError as exc:
            return exc.reason, exc.detail

    def _keep(self, key: int, sha: str, data: bytes) -> None:
        with self._kept_lock:
            old = self._kept.pop(key, None)
            if old is not None:
                self._kept_bytes -= len(old[1])
            self._kept[key] = (sha, data)
            self._kept_bytes += len(data)
            while self._kept_bytes > KEEP_BYTES and self._kept:  # oldest first: their analysis re-reads them
                _, (_, dropped) = self._kept.popitem(last=False)
                self._kept_bytes -= len(dropped)

    def _take(self, key: int, sha: str, path: Path) -> bytes | ImageOutcome:
        """The bytes hashed as `sha`: kept from `prepare`, or read again (and checked) when they are not."""
        with self._kept_lock:
            kept = self._kept.pop(key, None)
            if kept is not None:
                self._kept_bytes -= len(kept[1])
        if kept is not None and kept[0] == sha:
            return kept[1]
        data = self._read(path)
        if isinstance(data, tuple):
            return ImageOutcome(key, error=data)
        if imaging.sha256_bytes(data) != sha:
            return ImageOutcome(key, error=(FILE_CHANGED, "the file changed between its hash and its analysis"))
        return data
