"""Embed every image of a labelled set with one pack (the face nearest the centre), cached on disk."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import imaging
from ..config import Settings
from ..models import load_pack
from ..models import quality as quality_mod
from ..pipeline import analyze
from .datasets import LabelledSet

# Bit i of `Embedded.reasons` is set when the chosen face raised REASON_CODES[i].
REASON_CODES = (quality_mod.SMALL_FACE, quality_mod.BLURRY, quality_mod.EXTREME_POSE, quality_mod.LOW_CONFIDENCE)
CACHE_FORMAT = 2


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

    def reason_names(self, i: int) -> list[str]:
        return [code for b, code in enumerate(REASON_CODES) if int(self.reasons[i]) >> b & 1]


def centre_face(boxes: np.ndarray, size: tuple[int, int]) -> int:
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    target = np.array([size[0] / 2, size[1] / 2])
    return int(np.argmin(((centres - target) ** 2).sum(1)))


def cache_file(ds: LabelledSet, pack_name: str, cache_dir: Path, transform_key: str = "") -> Path:
    # The key covers the exact file list, the pack and the degradation, so a changed set is never reused.
    key = hashlib.sha256(("\n".join(map(str, ds.images)) + pack_name + transform_key).encode()).hexdigest()[:16]
    return cache_dir / f"{ds.name}-{pack_name}-{key}.npz"


def embed_full(ds: LabelledSet, pack_name: str, settings: Settings, cache_dir: Path | None = None,
               batch: int = 32, progress: Callable[[int, int], None] | None = None,
               transform: Callable[[np.ndarray, int], np.ndarray] | None = None, transform_key: str = ""
               ) -> Embedded:
    """Embed a set (optionally with every image passed through `transform(image, index)` first)."""
    cache = cache_file(ds, pack_name, cache_dir, transform_key) if cache_dir else None
    if cache and cache.is_file():
        z = np.load(cache)
        if int(z.get("format", 1)) >= CACHE_FORMAT:
            return Embedded(z["emb"], z["ok"], z["quality"], z["boxes"], z["landmarks"], z["det_score"],
                            z["reasons"], z["n_faces"])
    pack = load_pack(pack_name, settings, settings.workers)
    n = len(ds.images)
    out = Embedded(np.zeros((n, pack.info.dim), np.float32), np.zeros(n, bool), np.zeros(n, np.float32),
                   np.zeros((n, 4), np.float32), np.zeros((n, 5, 2), np.float32), np.zeros(n, np.float32),
                   np.zeros(n, np.uint8), np.zeros(n, np.int16))
    for start in range(0, n, batch):
        idx, imgs = [], []
        for i in range(start, min(n, start + batch)):
            try:
                img, _ = imaging.load_image(ds.images[i], settings.max_file_bytes, settings.max_pixels)
            except imaging.ImageError:
                continue
            idx.append(i)
            imgs.append(np.ascontiguousarray(transform(img, i)) if transform else img)
        for i, fs in zip(idx, analyze(pack, imgs, settings.min_face_px, settings.min_detection_score)):
            out.n_faces[i] = len(fs)
            if len(fs):
                j = centre_face(fs.boxes, fs.image_size)
                out.emb[i], out.ok[i], out.quality[i] = fs.embeddings[j], True, fs.quality[j]
                out.boxes[i], out.landmarks[i], out.det_score[i] = fs.boxes[j], fs.landmarks[j], fs.det_scores[j]
                out.reasons[i] = sum(1 << b for b, code in enumerate(REASON_CODES) if code in fs.reasons[j])
        if progress:
            progress(min(n, start + batch), n)
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, emb=out.emb, ok=out.ok, quality=out.quality, boxes=out.boxes, landmarks=out.landmarks,
                 det_score=out.det_score, reasons=out.reasons, n_faces=out.n_faces, format=CACHE_FORMAT)
        tmp.replace(cache)  # atomic: an interrupted run never leaves a truncated cache behind
    return out


def embed_set(ds: LabelledSet, pack_name: str, settings: Settings, cache_dir: Path | None = None,
              batch: int = 32, progress: Callable[[int, int], None] | None = None,
              transform: Callable[[np.ndarray], np.ndarray] | None = None, transform_key: str = ""
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (embeddings (n, dim), detected mask (n,), quality (n,)); undetected rows are zero."""
    cache = cache_file(ds, pack_name, cache_dir, transform_key) if cache_dir else None
    if cache and cache.is_file():  # also reads caches written before embed_full existed
        z = np.load(cache)
        return z["emb"], z["ok"], z["quality"]
    fn = (lambda img, _i: transform(img)) if transform else None
    e = embed_full(ds, pack_name, settings, cache_dir, batch, progress, fn, transform_key)
    return e.emb, e.ok, e.quality
