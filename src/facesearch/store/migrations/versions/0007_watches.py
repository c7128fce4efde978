"""Standing searches (watches), their templates, hits and per-collection marks; case authorisations, the
purposes that require one, urgent uses; reviewer assignments of proposals.

Revision ID: 0007_watches
Revises: 0006_video

- `watches`, `watch_templates` (-> watches ON DELETE CASCADE), `watch_hits` (-> watches, -> faces ON DELETE
  CASCADE; unique per watch and face), `watch_marks` (-> collections ON DELETE CASCADE)
- `case_authorisations`, `purpose_authorisations` (-> purposes), `urgent_uses`
- `proposal_assignments` (-> proposals)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_watches"
down_revision: str | Sequence[str] | None = "0006_video"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "watches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_ref", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("until", TZ, nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("collections", sa.JSON(), nullable=True),
        sa.Column("face", sa.Integer(), nullable=False),
        sa.Column("probe_sha256", sa.String(length=64), nullable=False),
        sa.Column("from_face_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("ended_by", sa.String(length=100), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_watches_case_ref", "watches", ["case_ref"])
    op.create_index("ix_watches_owner", "watches", ["owner"])
    op.create_index("ix_watches_status", "watches", ["status"])
    op.create_table(
        "watch_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("watch_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["watch_id"], ["watches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_watch_templates_watch_id", "watch_templates", ["watch_id"])
    op.create_index("ix_watch_templates_model", "watch_templates", ["model"])
    op.create_table(
        "watch_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("watch_id", sa.Integer(), nullable=False),
        sa.Column("face_id", Id64, nullable=False),
        sa.Column("image_id", Id64, nullable=False),
        sa.Column("collection", sa.String(length=200), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("fmr", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("ingest_job", sa.Integer(), nullable=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("seen_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(["watch_id"], ["watches.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["face_id"], ["faces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("watch_id", "face_id", name="uq_watch_hit"),
    )
    op.create_index("ix_watch_hits_face_id", "watch_hits", ["face_id"])
    op.create_index("ix_watch_hits_lead_id", "watch_hits", ["lead_id"])
    op.create_table(
        "watch_marks",
        sa.Column("collection_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_face_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["collection_id"], ["collections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("collection_id"),
    )
    op.create_table(
        "case_authorisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_ref", sa.String(length=200), nullable=False),
        sa.Column("authority", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("granted_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("document_name", sa.Text(), nullable=True),
        sa.Column("document_sha256", sa.String(length=64), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_authorisations_case_ref", "case_authorisations", ["case_ref"])
    op.create_table(
        "purpose_authorisations",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("urgent_hours", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["code"], ["purposes.code"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "urgent_uses",
        sa.Column("case_ref", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("started_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("case_ref", "purpose"),
    )
    op.create_table(
        "proposal_assignments",
        sa.Column("proposal_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("reviewer", sa.String(length=100), nullable=False),
        sa.Column("assigned_by", sa.String(length=100), nullable=False),
        sa.Column("assigned_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("proposal_id"),
    )


def downgrade() -> None:
    op.drop_table("proposal_assignments")
    op.drop_table("urgent_uses")
    op.drop_table("purpose_authorisations")
    op.drop_index("ix_case_authorisations_case_ref", table_name="case_authorisations")
    op.drop_table("case_authorisations")
    op.drop_table("watch_marks")
    op.drop_index("ix_watch_hits_lead_id", table_name="watch_hits")
    op.drop_index("ix_watch_hits_face_id", table_name="watch_hits")
    op.drop_table("watch_hits")
    op.drop_index("ix_watch_templates_model", table_name="watch_templates")
    op.drop_index("ix_watch_templates_watch_id", table_name="watch_templates")
    op.drop_table("watch_templates")
    op.drop_index("ix_watches_status", table_name="watches")
    op.drop_index("ix_watches_owner", table_name="watches")
    op.drop_index("ix_watches_case_ref", table_name="watches")
    op.drop_table("watches")
