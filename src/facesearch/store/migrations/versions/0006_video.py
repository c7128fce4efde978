"""Video: video files as images with their scan, tracks and face times.

Revision ID: 0006_video
Revises: 0005_people

- `videos` (image_id -> images.id ON DELETE CASCADE, collection_id, container, codec, duration, frame_rate,
  frames, rotation, sampling_fps, status, seconds, checkpoint, report)
- `video_tracks` (id, image_id -> images.id ON DELETE CASCADE, track, start, end, start_frame, end_frame,
  sightings, seen_with), one row per (image_id, track)
- `video_faces` (face_id -> faces.id ON DELETE CASCADE, track_id -> video_tracks.id ON DELETE CASCADE, time,
  frame)

New tables only: `faces` and `images` are not rebuilt, so upgrading a large home is instant.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_video"
down_revision: str | Sequence[str] | None = "0005_people"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "videos",
        sa.Column("image_id", Id64, autoincrement=False, nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("container", sa.String(length=20), nullable=False),
        sa.Column("codec", sa.String(length=40), nullable=False),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("frame_rate", sa.Float(), nullable=True),
        sa.Column("frames", sa.Integer(), nullable=True),
        sa.Column("rotation", sa.Integer(), nullable=False),
        sa.Column("sampling_fps", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("checkpoint", sa.JSON(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("image_id"),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["collection_id"], ["collections.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_videos_collection_id", "videos", ["collection_id"])
    op.create_table(
        "video_tracks",
        sa.Column("id", Id64, nullable=False),
        sa.Column("image_id", Id64, nullable=False),
        sa.Column("track", sa.Integer(), nullable=False),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("end", sa.Float(), nullable=False),
        sa.Column("start_frame", sa.Integer(), nullable=False),
        sa.Column("end_frame", sa.Integer(), nullable=False),
        sa.Column("sightings", sa.Integer(), nullable=False),
        sa.Column("seen_with", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.UniqueConstraint("image_id", "track", name="uq_video_track"),
    )
    op.create_index("ix_video_tracks_image_id", "video_tracks", ["image_id"])
    op.create_table(
        "video_faces",
        sa.Column("face_id", Id64, autoincrement=False, nullable=False),
        sa.Column("track_id", Id64, nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("frame", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("face_id"),
        sa.ForeignKeyConstraint(["face_id"], ["faces.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["track_id"], ["video_tracks.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_video_faces_track_id", "video_faces", ["track_id"])


def downgrade() -> None:
    op.drop_index("ix_video_faces_track_id", table_name="video_faces")
    op.drop_table("video_faces")
    op.drop_index("ix_video_tracks_image_id", table_name="video_tracks")
    op.drop_table("video_tracks")
    op.drop_index("ix_videos_collection_id", table_name="videos")
    op.drop_table("videos")
