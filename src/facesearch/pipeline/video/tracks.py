"""Faces on sampled frames, linked into tracks: one person followed through one shot.

A face joins the open track it agrees with on both counts:
- position: its centre is within `max_shift` face sizes of where the track was last seen, plus `shift_rate`
  face sizes per second since (at 2 frames per second a walker's face moves several of its own widths between
  samples), and its size is within a factor `max_scale` (plus half of it per second) of the track's;
- appearance: its embedding scores at least the pack's score at a false-match rate of 1% (`link_fmr`, from the
  pack's calibration table, so one rule fits every pack) against the track's latest face or its best one; or at
  10% (`near_fmr`) when the track was seen on the previous sampled frame and the two boxes overlap heavily
  (IoU >= 0.3: a blurred or turning face in the same place; after a gap, someone else in the same doorway is
  likelier).
Pairs are taken best first (appearance, then overlap); each track takes at most one face per frame and each
face joins at most one track, so two faces visible on one frame are never one track. A face that joins none
opens a new track. A track closes when it has not been seen for `max_gap` seconds, and every track closes at a
scene cut (a track is one continuous appearance; the same person in the next shot is a new track, and linking
them is the people clustering's work).

A track keeps its best few faces by quality (`keep`), each with its frame time and number, box, landmarks,
embedding and a JPEG thumbnail cut from the frame when the face is kept; never every frame. Faces below
`min_quality` still carry a track along but are not kept; a track with no face kept is dropped and counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...calibration.tables import load_table
from ...errors import FacesearchError
from ..analysis import FaceSet, thumbnail_jpeg
from .reader import SampledFrame
from .records import Track, VideoFace

NEAR_IOU = 0.3
# Link thresholds when a pack has no calibration table (yunet-reid's scores at 1% and 10% FMR).
FALLBACK_LINK = 0.31
FALLBACK_NEAR = 0.17


@dataclass(frozen=True)
class TrackOptions:
    keep: int = 3  # faces kept per track, best by quality
    max_gap: float | None = None  # seconds unseen before a track closes; None: max(1 s, 2.5 sampling intervals)
    link_fmr: float = 1e-2
    near_fmr: float = 1e-1
    max_shift: float = 1.0
    shift_rate: float = 6.0
    max_scale: float = 1.6
    min_quality: float = 0.0
    thumbnails: bool = True


@dataclass(frozen=True)
class LinkThresholds:
    link: float
    near: float

    @classmethod
    def for_pack(cls, pack_name: str, options: TrackOptions) -> LinkThresholds:
        """The pack's scores at the options' false-match rates, from its calibration table."""
        try:
            table = load_table(pack_name)
        except (FacesearchError, OSError, ValueError, KeyError):
            return cls(FALLBACK_LINK, FALLBACK_NEAR)
        return cls(table.threshold_for_fmr(options.link_fmr), table.threshold_for_fmr(options.near_fmr))


@dataclass
class _Open:
    """A track still being followed."""

    id: int
    start: float
    start_frame: int
    end: float
    end_frame: int
    box: np.ndarray  # last box, display pixels
    last: np.ndarray  # last embedding
    best: np.ndarray  # embedding of the best-quality face seen
    best_quality: float
    sightings: int = 1
    kept: list[VideoFace] = field(default_factory=list)
    seen_with: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Step:
    """What one sampled frame did: tracks it closed (before its faces were linked), whether no track was open
    when its faces came (a point a scan can resume from), and the id its first new track got or would get."""

    closed: list[Track]
    quiet: bool
    next_id: int


class Tracker:
    """Links the faces of consecutive sampled frames of one video into tracks."""

    def __init__(self, options: TrackOptions, thresholds: LinkThresholds, fps: float, next_id: int = 0) -> None:
        self.options = options
        self.thresholds = thresholds
        self.max_gap = options.max_gap if options.max_gap is not None else max(1.0, 2.5 / fps)
        self._adjacent = 1.5 / fps  # at most this long after its last sighting, a track was on the previous sample
        self.next_id = next_id
        self.faces = 0
        self.below_quality = 0  # tracks dropped: no face at or above min_quality
        self._open: list[_Open] = []

    def update(self, frame: SampledFrame, faces: FaceSet) -> Step:
        closed = self._expire(frame.time, frame.cut)
        step = Step(closed, not self._open, self.next_id)
        self._link(frame, faces)
        return step

    def finish(self) -> list[Track]:
        """Close every open track (the end of the video)."""
        return self._close([t for t in self._open])

    # ---------------------------------------------------------------------------------------------
    def _expire(self, now: float, cut: bool) -> list[Track]:
        gone = [t for t in self._open if cut or now - t.end > self.max_gap]
        return self._close(gone)

    def _close(self, gone: list[_Open]) -> list[Track]:
        out = []
        for t in gone:
            self._open.remove(t)
            if not t.kept:
                self.below_quality += 1
                continue
            out.append(
                Track(
                    id=t.id,
                    start=t.start,
                    end=t.end,
                    start_frame=t.start_frame,
                    end_frame=t.end_frame,
                    sightings=t.sightings,
                    faces=tuple(t.kept),
                    seen_with=tuple(sorted(t.seen_with)),
                )
            )
        return sorted(out, key=lambda tr: tr.id)

    def _link(self, frame: SampledFrame, faces: FaceSet) -> None:
        n = len(faces)
        self.faces += n
        if n == 0:
            return
        boxes = faces.boxes.astype(np.float64) / frame.scale
        assigned: dict[int, _Open] = {}
        taken: set[int] = set()
        for _score, i, j in self._candidates(frame.time, boxes, faces.embeddings):
            track = self._open[i]
            if j in assigned or track.id in taken:
                continue
            assigned[j] = track
            taken.add(track.id)
        here: list[_Open] = []
        for j in range(n):
            quality = float(faces.quality[j])
            if j in assigned:
                track = assigned[j]
                self._extend(track, frame, boxes[j], faces.embeddings[j], quality)
            else:
                track = self._new(frame, boxes[j], faces.embeddings[j], quality)
            self._keep(track, frame, faces, j, boxes[j])
            here.append(track)
        for track in here:
            track.seen_with.update(other.id for other in here if other is not track)

    def _candidates(self, now: float, boxes: np.ndarray, embeddings: np.ndarray) -> list[tuple[float, int, int]]:
        """(score, track index, face index) of every pair that may link, best first."""
        o = self.options
        pairs = []
        for i, track in enumerate(self._open):
            dt = max(0.0, now - track.end)
            size_t = _size(track.box)
            sims = embeddings @ track.last
            sims_best = embeddings @ track.best
            for j, box in enumerate(boxes):
                size_d = _size(box)
                if max(size_t, size_d) > (o.max_scale + 0.5 * dt) * max(min(size_t, size_d), 1e-6):
                    continue
                shift = float(np.hypot(*(_centre(box) - _centre(track.box)))) / max(size_t, size_d, 1e-6)
                if shift > o.max_shift + o.shift_rate * dt:
                    continue
                sim = max(float(sims[j]), float(sims_best[j]))
                iou = _iou(box, track.box)
                near = dt <= self._adjacent and iou >= NEAR_IOU and sim >= self.thresholds.near
                if sim >= self.thresholds.link or near:
                    pairs.append((sim + 0.25 * iou, i, j))
        pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
        return pairs

    def _new(self, frame: SampledFrame, box: np.ndarray, embedding: np.ndarray, quality: float) -> _Open:
        track = _Open(
            id=self.next_id,
            start=frame.time,
            start_frame=frame.frame,
            end=frame.time,
            end_frame=frame.frame,
            box=box,
            last=embedding,
            best=embedding,
            best_quality=quality,
        )
        self.next_id += 1
        self._open.append(track)
        return track

    @staticmethod
    def _extend(track: _Open, frame: SampledFrame, box: np.ndarray, embedding: np.ndarray, quality: float) -> None:
        track.end, track.end_frame = frame.time, frame.frame
        track.box, track.last = box, embedding
        track.sightings += 1
        if quality > track.best_quality:
            track.best, track.best_quality = embedding, quality

    def _keep(self, track: _Open, frame: SampledFrame, faces: FaceSet, j: int, box: np.ndarray) -> None:
        """Keep this face if it is among the track's best few (its thumbnail is cut now: the frame is gone
        later)."""
        quality = float(faces.quality[j])
        o = self.options
        if quality < o.min_quality:
            return
        if len(track.kept) >= o.keep and quality <= track.kept[-1].quality:
            return
        thumb = thumbnail_jpeg(frame.image, faces.boxes[j]) if o.thumbnails else b""
        face = VideoFace(
            track=track.id,
            time=frame.time,
            frame=frame.frame,
            box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
            landmarks=tuple(
                (round(float(x) / frame.scale, 2), round(float(y) / frame.scale, 2)) for x, y in faces.landmarks[j]
            ),
            det_score=float(faces.det_scores[j]),
            quality=quality,
            reasons=tuple(faces.reasons[j]),
            embedding=np.asarray(faces.embeddings[j], np.float32).copy(),
            thumbnail=thumb,
        )
        track.kept.append(face)
        # Best first; among equals the earlier stays ahead (a stable sort).
        track.kept.sort(key=lambda f: -f.quality)
        del track.kept[o.keep :]

    @property
    def open_tracks(self) -> int:
        return len(self._open)


def _size(box: np.ndarray) -> float:
    return math.sqrt(max(float(box[2] - box[0]), 0.0) * max(float(box[3] - box[1]), 0.0))


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float64)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = float(w * h)
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0
