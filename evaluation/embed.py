"""Embed every image of a labelled set with one pack (the face nearest the centre), cached on disk."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.datasets import LabelledSet
from facesearch.config import Settings
from facesearch.errors import ImageError
from facesearch.models import load_pack
from facesearch.models import quality as quality_mod
from facesearch.pipeline import imaging
from facesearch.pipeline.analysis import filter_detections

# Bit i of `Embedded.reasons` is set when the chosen face raised REASON_CODES[i].
REASON_CODES = (quality_mod.SMALL_FACE, quality_mod.BLURRY, quality_mod.EXTREME_POSE, quality_mod.LOW_CONFIDENCE)
CACHE_FORMAT = 3


@dataclass
class Embedded:
    """Per image of a set: the chosen face's embedding and what the pipeline said about it."""

    emb: np.ndarray  # (n, dim) float32, zero where no face was found
    ok: np.ndarray  # (n,) bool: a face was found
    quality: np.ndarray  # (n,) float32 quality score in [0, 1]
    boxes: np.ndarray  # (n, 4) float32 box of the chosen face
    landmarks: np.ndarray  # (n, 5, 2) float32
    det_score: np.ndarray  # (n,) float32
    reasons: np.ndarray  # (n,) uint8 bitmask over REASON_CODES
    n_faces: np.ndarray  # (n,) int16 faces found in the image
    sharp_raw: np.ndarray  # (n,) float32 raw sharpness, so quality can be re-scored without re-embedding

    def rescore(self) -> None:
        """Recompute quality and reasons from the stored components with the current quality code."""
        ok = self.ok
        q = quality_mod.from_components(self.landmarks[ok], self.det_score[ok], self.sharp_raw[ok])
        self.quality = np.zeros(len(ok), np.float32)
        self.quality[ok] = q.score
        self.reasons = np.zeros(len(ok), np.uint8)
        self.reasons[ok] = [sum(1 << b for b, code in enumerate(REASON_CODES) if code in r) for r in q.reasons]


def centre_face(boxes: np.ndarray, size: tuple[int, int]) -> int:
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    target = np.array([size[0] / 2, size[1] / 2])
    return int(np.argmin(((centres - target) ** 2).sum(1)))


def cache_file(ds: LabelledSet, pack_name: str, cache_dir: Path, transform_key: str = "") -> Path:
    # The key covers the exact file list, the pack and the degradation, so a changed set is never reused.
    key = hashlib.sha256(("\n".join(map(str, ds.images)) + pack_name + transform_key).encode()).hexdigest()[:16]
    return cache_dir / f"{ds.name}-{pack_name}-{key}.npz"


def embed_full(
    ds: LabelledSet,
    pack_name: str,
    settings: Settings,
    cache_dir: Path | None = None,
    batch: int = 32,
    progress: Callable[[int, int], None] | None = None,
    transform: Callable[[np.ndarray, int], np.ndarray] | None = None,
    transform_key: str = "",
) -> Embedded:
    """Embed a set (optionally with every image passed through `transform(image, index)` first)."""
    cache = cache_file(ds, pack_name, cache_dir, transform_key) if cache_dir else None
    if cache and cache.is_file():
        z = np.load(cache)
        if "format" in z and int(z["format"]) >= CACHE_FORMAT:
            e = Embedded(
                z["emb"],
                z["ok"],
                z["quality"],
                z["boxes"],
                z["landmarks"],
                z["det_score"],
                z["reasons"],
                z["n_faces"],
                z["sharp_raw"],
            )
            e.rescore()
            return e
    pack = load_pack(pack_name, settings, settings.workers)
    n = len(ds.images)
    out = Embedded(
        np.zeros((n, pack.info.dim), np.float32),
        np.zeros(n, bool),
        np.zeros(n, np.float32),
        np.zeros((n, 4), np.float32),
        np.zeros((n, 5, 2), np.float32),
        np.zeros(n, np.float32),
        np.zeros(n, np.uint8),
        np.zeros(n, np.int16),
        np.zeros(n, np.float32),
    )
    for start in range(0, n, batch):
        idx, crops = [], []
        for i in range(start, min(n, start + batch)):
            try:
                img, _ = imaging.load_image(ds.images[i], settings.max_file_bytes, settings.max_pixels)
            except ImageError:
                continue
            if transform:
                img = np.ascontiguousarray(transform(img, i))
            # The pipeline's own steps (pipeline.analyze), but only the centre face is aligned and embedded.
            det = filter_detections(pack.detect(img), settings.min_face_px, settings.min_detection_score)
            out.n_faces[i] = len(det)
            if not len(det):
                continue
            j = centre_face(det.boxes, (img.shape[1], img.shape[0]))
            one = det.take(np.array([j]))
            crops.append(pack.align(img, one))
            idx.append(i)
            out.boxes[i], out.landmarks[i], out.det_score[i] = one.boxes[0], one.landmarks[0], one.scores[0]
        if idx:
            all_crops = np.concatenate(crops)
            out.emb[idx] = pack.embed(all_crops)
            out.ok[idx] = True
            out.sharp_raw[idx] = quality_mod.sharpness_raw(all_crops)
        if progress:
            progress(min(n, start + batch), n)
    out.rescore()
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            emb=out.emb,
            ok=out.ok,
            quality=out.quality,
            boxes=out.boxes,
            landmarks=out.landmarks,
            det_score=out.det_score,
            reasons=out.reasons,
            n_faces=out.n_faces,
            sharp_raw=out.sharp_raw,
            format=CACHE_FORMAT,
        )
        tmp.replace(cache)  # atomic: an interrupted run never leaves a truncated cache behind
    return out
