"""Tables of videos: a video file is an image row (its path, hash, provenance, display size) with a `videos`
row of its own (container, codec, duration, the sampling it was scanned at, how far the scan got and where it
can resume), its `video_tracks` (one person followed through one shot: start and end, who was on screen in
the same frame) and, per stored face, the `video_faces` row that says when and on which frame it was seen.

Everything hangs off the image row (ON DELETE CASCADE), so an erasure of the video reaches every track and
face time with it; the store also deletes them explicitly, for SQLite connections opened elsewhere with
foreign keys off."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base, Id64

SCANNING = "scanning"  # committed in part: a run that ends here (a crash) resumes from `checkpoint`
DONE = "done"


class Video(Base):
    __tablename__ = "videos"
    image_id: Mapped[int] = mapped_column(
        Id64, ForeignKey("images.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), index=True)
    container: Mapped[str] = mapped_column(String(20))
    codec: Mapped[str] = mapped_column(String(40))
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)  # seconds, as the container declares
    frame_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    frames: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    sampling_fps: Mapped[float] = mapped_column(Float)  # frames analysed per second: a resumed scan keeps it
    status: Mapped[str] = mapped_column(String(20), default=SCANNING)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)  # video time the scan has committed up to
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # what was decoded, what was wrong


class VideoTrack(Base):
    __tablename__ = "video_tracks"
    __table_args__ = (UniqueConstraint("image_id", "track", name="uq_video_track"),)
    id: Mapped[int] = mapped_column(Id64, primary_key=True)
    image_id: Mapped[int] = mapped_column(Id64, ForeignKey("images.id", ondelete="CASCADE"), index=True)
    track: Mapped[int] = mapped_column(Integer)  # the scan's number: stable across a resumed scan
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    start_frame: Mapped[int] = mapped_column(Integer)
    end_frame: Mapped[int] = mapped_column(Integer)
    sightings: Mapped[int] = mapped_column(Integer)
    seen_with: Mapped[list[Any]] = mapped_column(JSON)  # track numbers on screen in the same frame at least once


class VideoFace(Base):
    __tablename__ = "video_faces"
    face_id: Mapped[int] = mapped_column(
        Id64, ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    track_id: Mapped[int] = mapped_column(Id64, ForeignKey("video_tracks.id", ondelete="CASCADE"), index=True)
    time: Mapped[float] = mapped_column(Float)  # seconds from the start of the file
    frame: Mapped[int] = mapped_column(Integer)  # frame number in presentation order, 0 first
