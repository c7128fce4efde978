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


@dataclass
class NewVideoFace(NewFace):
    """A face seen in a video: when (seconds from the start of the file) and on which frame."""

    time: float
    frame: int


@dataclass
class NewTrack:
    """One person followed through one shot of a video, with the faces of it that are kept."""

    track: int  # the scan's number, stable across a resumed scan
    start: float
    end: float
    start_frame: int
    end_frame: int
    sightings: int
    seen_with: list[int]  # track numbers on screen in the same frame at least once
    faces: list[NewVideoFace]


@dataclass
class NewVideo:
    """A video file as its image row and `videos` row record it."""

    sha256: str
    path: str | None
    source_url: str | None
    meta: dict[str, Any] | None
    width: int  # upright display size
    height: int
    manifest_row: int | None
    container: str
    codec: str
    duration: float | None
    frame_rate: float | None
    frames: int | None
    rotation: int
    sampling_fps: float
