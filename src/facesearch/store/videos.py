"""Every SQL statement about videos: a video's image row and scan state, its tracks committed batch by batch
with the point the scan may resume from, the time and track of each video face, and the reads that search,
people and governance need (which faces share a track, which tracks were on screen together).

A video is committed in parts: `start_video` writes its image row (face count 0) and its `videos` row
(status `scanning`); each `add_tracks` writes a batch of tracks, their faces, embeddings and times, the
collection's counter, the image's face count and the scan's checkpoint, in one transaction; `finish_video`
marks it done. A run that dies in between leaves a video in `scanning` with a checkpoint that agrees with
the tracks stored, and the next run resumes there (`video_state`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import insert, select, update

from ..records import NewTrack, NewVideo
from .base import CHUNK
from .db import Store
from .faces import face_row
from .schema import Face, FaceEmbedding, Image, utcnow
from .video_tables import DONE, SCANNING, Video, VideoFace, VideoTrack


@dataclass(frozen=True)
class VideoState:
    """A video already in a collection: its image, whether its scan finished, and where it may resume."""

    image_id: int
    status: str
    sampling_fps: float
    seconds: float
    checkpoint: dict[str, Any] | None
    tracks: frozenset[int]  # track numbers already stored

    @property
    def done(self) -> bool:
        return self.status == DONE


@dataclass(frozen=True)
class VideoFaceInfo:
    """When a stored face was seen in its video, and the track it belongs to."""

    time: float
    frame: int
    track: int
    start: float
    end: float
    track_id: int


@dataclass(frozen=True)
class TrackRow:
    """A stored track: its row id, video (image id), number, times, and the track numbers seen with it."""

    id: int
    image_id: int
    track: int
    start: float
    end: float
    seen_with: tuple[int, ...]


# Writing, batch by batch ------------------------------------------------------------------------------


def video_state(store: Store, collection_id: int, sha256: str) -> VideoState | None:
    """The video with these bytes in this collection, or None when there is none."""
    with store.database.connect() as conn:
        row = conn.execute(
            select(Image.id, Video.status, Video.sampling_fps, Video.seconds, Video.checkpoint)
            .join(Video, Video.image_id == Image.id)
            .where(Image.collection_id == collection_id, Image.sha256 == sha256)
        ).first()
        if row is None:
            return None
        tracks = frozenset(int(t) for t in conn.scalars(select(VideoTrack.track).where(VideoTrack.image_id == row[0])))
    return VideoState(int(row[0]), str(row[1]), float(row[2]), float(row[3]), row[4], tracks)


def start_video(store: Store, collection_id: int, job_id: int | None, video: NewVideo) -> int:
    """Write the video's image row (no face yet) and its scan state; returns the image id. A video with the
    same bytes already there (a concurrent writer) is returned as it is."""
    with store.database.begin() as conn:
        row = conn.execute(
            store._dialect_insert(Image)
            .on_conflict_do_nothing(index_elements=["collection_id", "sha256"])
            .returning(Image.id),
            [
                {
                    "collection_id": collection_id,
                    "sha256": video.sha256,
                    "path": video.path,
                    "source_url": video.source_url,
                    "metadata": video.meta,
                    "width": video.width,
                    "height": video.height,
                    "face_count": 0,
                    "job_id": job_id,
                    "manifest_row": video.manifest_row,
                    "ingested_at": utcnow(),
                }
            ],
        ).first()
        if row is None:
            found = conn.scalar(
                select(Image.id).where(Image.collection_id == collection_id, Image.sha256 == video.sha256)
            )
            assert found is not None  # the conflict was on this very row
            return int(found)
        image_id = int(row[0])
        conn.execute(
            insert(Video),
            [
                {
                    "image_id": image_id,
                    "collection_id": collection_id,
                    "container": video.container[:20],
                    "codec": video.codec[:40],
                    "duration": video.duration,
                    "frame_rate": video.frame_rate,
                    "frames": video.frames,
                    "rotation": video.rotation,
                    "sampling_fps": video.sampling_fps,
                    "status": SCANNING,
                    "seconds": 0.0,
                    "checkpoint": None,
                    "report": None,
                }
            ],
        )
    return image_id


def add_tracks(
    store: Store,
    collection_id: int,
    image_id: int,
    tracks: Sequence[NewTrack],
    *,
    seconds: float,
    checkpoint: dict[str, Any] | None,
) -> list[list[int]]:
    """Write a batch of a video's tracks with their faces, embeddings and times, and the point the scan may
    resume from, in one transaction. Returns the face ids of each track, in order; a track already stored
    (a resumed scan hands over again the tracks it met after its checkpoint) is skipped with no ids."""
    out: list[list[int]] = [[] for _ in tracks]
    with store.database.begin() as conn:
        held = {int(t) for t in conn.scalars(select(VideoTrack.track).where(VideoTrack.image_id == image_id))}
        added = 0
        for k, tr in enumerate(tracks):
            if tr.track in held or not tr.faces:
                continue
            held.add(tr.track)
            track_id = int(
                conn.execute(
                    insert(VideoTrack).returning(VideoTrack.id),
                    [
                        {
                            "image_id": image_id,
                            "track": tr.track,
                            "start": float(tr.start),
                            "end": float(tr.end),
                            "start_frame": int(tr.start_frame),
                            "end_frame": int(tr.end_frame),
                            "sightings": int(tr.sightings),
                            "seen_with": [int(t) for t in tr.seen_with],
                        }
                    ],
                ).scalar_one()
            )
            face_ids = [
                int(r[0])
                for r in conn.execute(
                    insert(Face).returning(Face.id, sort_by_parameter_order=True),
                    [face_row(image_id, collection_id, f) for f in tr.faces],
                )
            ]
            conn.execute(
                insert(FaceEmbedding),
                [
                    {
                        "face_id": fid,
                        "collection_id": collection_id,
                        "embedding": np.asarray(f.embedding, np.float32).tobytes(),
                    }
                    for fid, f in zip(face_ids, tr.faces, strict=True)
                ],
            )
            conn.execute(
                insert(VideoFace),
                [
                    {"face_id": fid, "track_id": track_id, "time": float(f.time), "frame": int(f.frame)}
                    for fid, f in zip(face_ids, tr.faces, strict=True)
                ],
            )
            out[k] = face_ids
            added += len(face_ids)
        if added:
            store._count(conn, {collection_id: added})
            conn.execute(update(Image).where(Image.id == image_id).values(face_count=Image.face_count + added))
        conn.execute(
            update(Video).where(Video.image_id == image_id).values(seconds=float(seconds), checkpoint=checkpoint)
        )
    return out


def finish_video(store: Store, image_id: int, seconds: float, report: dict[str, Any]) -> None:
    """The scan reached the end of the file: no checkpoint is needed any more."""
    with store.database.begin() as conn:
        conn.execute(
            update(Video)
            .where(Video.image_id == image_id)
            .values(status=DONE, seconds=float(seconds), checkpoint=None, report=report)
        )


# Reading ---------------------------------------------------------------------------------------------


def has_videos(store: Store, collection_ids: Sequence[int]) -> bool:
    """Whether any of these collections holds a video (one indexed read)."""
    if not collection_ids:
        return False
    with store.database.connect() as conn:
        return (
            conn.scalar(
                select(Video.image_id).where(Video.collection_id.in_([int(c) for c in collection_ids])).limit(1)
            )
            is not None
        )


def video_of_image(store: Store, image_id: int) -> dict[str, Any] | None:
    """A video image's container, codec, duration, frame rate, rotation, sampling and scan state, or None for a
    photo."""
    with store.session() as s:
        v = s.get(Video, int(image_id))
        if v is None:
            return None
        return {
            "container": v.container,
            "codec": v.codec,
            "duration": v.duration,
            "frame_rate": v.frame_rate,
            "frames": v.frames,
            "rotation": v.rotation,
            "sampling_fps": v.sampling_fps,
            "status": v.status,
            "seconds": v.seconds,
            "report": v.report,
        }


def video_images(store: Store, image_ids: Iterable[int]) -> set[int]:
    """Those of these images that are videos."""
    ids = sorted({int(i) for i in image_ids})
    out: set[int] = set()
    with store.database.connect() as conn:
        for i in range(0, len(ids), CHUNK):
            out.update(
                int(x) for x in conn.scalars(select(Video.image_id).where(Video.image_id.in_(ids[i : i + CHUNK])))
            )
    return out


def face_times(store: Store, face_ids: Iterable[int]) -> dict[int, VideoFaceInfo]:
    """Face id -> when it was seen and its track, for those of these faces that come from a video."""
    ids = sorted({int(f) for f in face_ids})
    out: dict[int, VideoFaceInfo] = {}
    with store.database.connect() as conn:
        for i in range(0, len(ids), CHUNK):
            for fid, t, fr, track, start, end, tid in conn.execute(
                select(
                    VideoFace.face_id,
                    VideoFace.time,
                    VideoFace.frame,
                    VideoTrack.track,
                    VideoTrack.start,
                    VideoTrack.end,
                    VideoTrack.id,
                )
                .join(VideoTrack, VideoTrack.id == VideoFace.track_id)
                .where(VideoFace.face_id.in_(ids[i : i + CHUNK]))
            ):
                out[int(fid)] = VideoFaceInfo(float(t), int(fr), int(track), float(start), float(end), int(tid))
    return out


def track_mates(store: Store, face_ids: Iterable[int]) -> list[int]:
    """These faces and every other face of their tracks (a track is one person: what reaches one of its faces
    reaches all of them), ascending."""
    ids = sorted({int(f) for f in face_ids})
    out = set(ids)
    with store.database.connect() as conn:
        for i in range(0, len(ids), CHUNK):
            tracks = select(VideoFace.track_id).where(VideoFace.face_id.in_(ids[i : i + CHUNK])).scalar_subquery()
            out.update(int(f) for f in conn.scalars(select(VideoFace.face_id).where(VideoFace.track_id.in_(tracks))))
    return sorted(out)


def tracks_of_faces(store: Store, face_ids: Iterable[int]) -> dict[int, int]:
    """Face id -> track row id, for those of these faces that come from a video."""
    return {f: info.track_id for f, info in face_times(store, face_ids).items()}


_TRACK_COLUMNS = (
    VideoTrack.id,
    VideoTrack.image_id,
    VideoTrack.track,
    VideoTrack.start,
    VideoTrack.end,
    VideoTrack.seen_with,
)


def _track_row(r: Any) -> TrackRow:
    """A row of `_TRACK_COLUMNS` as a TrackRow."""
    return TrackRow(int(r[0]), int(r[1]), int(r[2]), float(r[3]), float(r[4]), tuple(int(x) for x in r[5] or ()))


def tracks(store: Store, track_ids: Iterable[int]) -> dict[int, TrackRow]:
    """Track rows by id."""
    ids = sorted({int(t) for t in track_ids})
    out: dict[int, TrackRow] = {}
    with store.database.connect() as conn:
        for i in range(0, len(ids), CHUNK):
            for r in conn.execute(select(*_TRACK_COLUMNS).where(VideoTrack.id.in_(ids[i : i + CHUNK]))):
                out[int(r[0])] = _track_row(r)
    return out


def seen_together(store: Store, track_ids: Iterable[int]) -> dict[int, list[TrackRow]]:
    """Track row id -> the stored tracks of the same video that were on screen with it in the same frame."""
    mine = tracks(store, track_ids)
    wanted: dict[int, set[int]] = defaultdict(set)  # image id -> track numbers
    for t in mine.values():
        wanted[t.image_id].update(t.seen_with)
    found: dict[tuple[int, int], TrackRow] = {}
    with store.database.connect() as conn:
        for image_id, numbers in wanted.items():
            if not numbers:
                continue
            for r in conn.execute(
                select(*_TRACK_COLUMNS).where(VideoTrack.image_id == image_id, VideoTrack.track.in_(sorted(numbers)))
            ):
                found[(int(r[1]), int(r[2]))] = _track_row(r)
    return {tid: [found[(t.image_id, n)] for n in t.seen_with if (t.image_id, n) in found] for tid, t in mine.items()}


def faces_of_tracks(store: Store, track_ids: Iterable[int]) -> dict[int, list[int]]:
    """Track row id -> its faces' ids, ascending."""
    ids = sorted({int(t) for t in track_ids})
    out: dict[int, list[int]] = defaultdict(list)
    with store.database.connect() as conn:
        for i in range(0, len(ids), CHUNK):
            for fid, tid in conn.execute(
                select(VideoFace.face_id, VideoFace.track_id)
                .where(VideoFace.track_id.in_(ids[i : i + CHUNK]))
                .order_by(VideoFace.face_id)
            ):
                out[int(tid)].append(int(fid))
    return dict(out)
