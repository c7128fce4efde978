"""Embed every image of a labelled set with one pack (the face nearest the centre), cached on disk."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import imaging
from ..config import Settings
from ..models import load_pack
from ..pipeline import analyze
from .datasets import LabelledSet


def centre_face(boxes: np.ndarray, size: tuple[int, int]) -> int:
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    target = np.array([size[0] / 2, size[1] / 2])
    return int(np.argmin(((centres - target) ** 2).sum(1)))


def embed_set(ds: LabelledSet, pack_name: str, settings: Settings, cache_dir: Path | None = None,
              batch: int = 32, progress: Callable[[int, int], None] | None = None,
              transform: Callable[[np.ndarray], np.ndarray] | None = None, transform_key: str = ""
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (embeddings (n, dim), detected mask (n,), quality (n,)); undetected rows are zero."""
    key = hashlib.sha256(("\n".join(map(str, ds.images)) + pack_name + transform_key).encode()).hexdigest()[:16]
    cache = cache_dir / f"{ds.name}-{pack_name}-{key}.npz" if cache_dir else None
    if cache and cache.is_file():
        z = np.load(cache)
        return z["emb"], z["ok"], z["quality"]
    pack = load_pack(pack_name, settings, settings.workers)
    n = len(ds.images)
    emb = np.zeros((n, pack.info.dim), np.float32)
    ok = np.zeros(n, bool)
    quality = np.zeros(n, np.float32)
    for start in range(0, n, batch):
        idx, imgs = [], []
        for i in range(start, min(n, start + batch)):
            try:
                img, _ = imaging.load_image(ds.images[i], settings.max_file_bytes, settings.max_pixels)
            except imaging.ImageError:
                continue
            idx.append(i)
            imgs.append(transform(img) if transform else img)
        for i, fs in zip(idx, analyze(pack, imgs, settings.min_face_px, settings.min_detection_score)):
            if len(fs):
                j = centre_face(fs.boxes, fs.image_size)
                emb[i], ok[i], quality[i] = fs.embeddings[j], True, fs.quality[j]
        if progress:
            progress(min(n, start + batch), n)
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, emb=emb, ok=ok, quality=quality)
    return emb, ok, quality
