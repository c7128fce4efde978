"""What the pipeline hands to the store: plain records, importable without the database layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class NewFace:
    face_index: int
    box: Sequence[float]
    landmarks: list[Any]
    det_score: float
    quality: float
    reasons: list[str]
    embedding: np.ndarray
    thumbnail: str


@dataclass
class NewImage:
    sha256: str
    path: str | None
    source_url: str | None
    meta: dict[str, Any] | None
    width: int
    height: int
    manifest_row: int | None
    faces: list[NewFace]
