"""What ingest worker processes run: decode, analyse and thumbnail a batch of images (in one process, ingest
decodes the next batch in its reader thread while the pack analyses this one).

Kept apart from ingest.py so a worker imports only the imaging and model code, not the database layer:
spawning a worker then costs a third of the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import Settings
from ..errors import ImageError
from ..fsutil import write_atomic
from ..models import load_pack
from ..models.base import ModelPack
from ..records import NewFace
from . import imaging
from .analysis import analyze, thumbnail_jpeg

TMP_DIR = ".tmp"  # under the thumbnails folder: half-written files, removed when their writer is gone
# (key, file bytes, thumbnail name prefix): workers write their thumbnails themselves, off the main process.
Work = tuple[int, bytes, str]

_pack: ModelPack | None = None
_settings: Settings | None = None


@dataclass
class ImageOutcome:
    key: int
    width: int = 0
    height: int = 0
    error: tuple[str, str] | None = None
    faces: list[NewFace] = field(default_factory=list)
    below_quality: int = 0
    # Each face's thumbnail (JPEG), in the order of `faces`, when the analysis ran where the home is not (a
    # cluster node): the process that commits writes them. Empty when the worker wrote them itself.
    thumbnails: list[bytes] = field(default_factory=list)


def init(pack_name: str, settings: Settings) -> None:
    """Pool initializer: load the model pack once per worker process."""
    global _pack, _settings
    _settings = settings
    _pack = load_pack(pack_name, settings, settings.threads_per_worker)


def run(batch: list[Work]) -> list[ImageOutcome]:
    assert _pack is not None and _settings is not None, "worker.init was not called"
    return process_batch(_pack, _settings, batch)


# Each batch's outcomes (one per image, in order) and its decoded images, ready for the pack.
Decoded = tuple[list[ImageOutcome], list[tuple[ImageOutcome, np.ndarray, str]]]


def process_batch(pack: ModelPack, settings: Settings, batch: list[Work]) -> list[ImageOutcome]:
    """Decode, analyse and thumbnail a batch of images; thumbnails are on disk when this returns."""
    return analyse_batch(pack, settings, decode_batch(settings, batch))


def decode_batch(settings: Settings, batch: list[Work]) -> Decoded:
    """Decode a batch (no model needed: ingest runs this in its reader thread, ahead of the pack)."""
    outcomes: list[ImageOutcome] = []
    decoded: list[tuple[ImageOutcome, np.ndarray, str]] = []
    for key, data, thumb_prefix in batch:
        outcome = ImageOutcome(key)
        try:
            image = imaging.decode_image(data, settings.max_pixels, settings.max_decode_bytes)
        except ImageError as exc:
            outcome.error = (exc.reason, exc.detail)
        else:
            outcome.height, outcome.width = image.shape[:2]
            decoded.append((outcome, image, thumb_prefix))
        outcomes.append(outcome)
    return outcomes, decoded


def analyse_batch(
    pack: ModelPack, settings: Settings, batch: Decoded, carry_thumbnails: bool = False
) -> list[ImageOutcome]:
    """Analyse and thumbnail a decoded batch; thumbnails are on disk when this returns, or, with
    `carry_thumbnails`, in each outcome's `thumbnails` for the committing process to write."""
    outcomes, decoded = batch
    images = [img for _, img, _ in decoded]
    try:
        facesets = analyze(pack, images, settings.min_face_px, settings.min_detection_score)
    except Exception as exc:  # a model failure on one batch must not end the run
        for outcome, _, _ in decoded:
            outcome.error = ("ANALYSIS_FAILED", f"{type(exc).__name__}: {exc}")
        return outcomes
    tmp_dir = settings.thumbs_dir / TMP_DIR
    for (outcome, image, thumb_prefix), fs in zip(decoded, facesets):
        for i in range(len(fs)):
            if fs.quality[i] < settings.ingest_min_quality:
                outcome.below_quality += 1
                continue
            face = NewFace(
                face_index=i,
                box=fs.boxes[i].tolist(),
                landmarks=fs.landmarks[i].round(2).tolist(),
                det_score=float(fs.det_scores[i]),
                quality=float(fs.quality[i]),
                reasons=fs.reasons[i],
                embedding=fs.embeddings[i],
                thumbnail=f"{thumb_prefix}_{i}.jpg",
            )
            jpeg = thumbnail_jpeg(image, fs.boxes[i])
            if carry_thumbnails:
                outcome.thumbnails.append(jpeg)
            else:
                # Not fsynced one by one (that would double the cost of writing them): a killed process leaves
                # them complete, and one lost to a power failure is reported by `doctor`.
                write_atomic(settings.thumbs_dir / face.thumbnail, jpeg, tmp_dir, durable=False)
            outcome.faces.append(face)
    return outcomes
