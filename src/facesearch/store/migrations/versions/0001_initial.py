"""The schema of facesearch 0.1.0, as its `Base.metadata.create_all` made it.

Revision ID: 0001_initial
Revises:
Create Date: 2026-01-20

Homes made by 0.1.0 have these tables but no `alembic_version`. Each table is created only when it is
missing, as `create_all` did, so running this revision on such a home (or on one made by an earlier
development build that lacks some tables) leaves existing tables and rows untouched and adds the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# On SQLite the database itself refuses UPDATE and DELETE of audit rows (see store/audit/table.py).
TRIGGERS = (("audit_log_no_update", "UPDATE"), ("audit_log_no_delete", "DELETE"))


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _collections() -> None:
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        _ts("created_at"),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("legal_basis", sa.String(64), nullable=True),
        sa.Column("legal_basis_note", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("keep_until_deleted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )


def _users() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )


def _audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("ts", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(100), nullable=True),
        sa.Column("role", sa.String(20), nullable=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("outcome", sa.String(40), nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("case_ref", sa.String(200), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("collections", sa.Text(), nullable=True),
        sa.Column("model", sa.String(64), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("probe_sha256", sa.String(64), nullable=True),
        sa.Column("results", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("prev_hash"),
    )
    op.create_index("ix_audit_log_ts", "audit_log", ["ts"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    op.create_index("ix_audit_log_actor_ts", "audit_log", ["actor", "ts"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor"])
    op.create_index("ix_audit_log_case_ref", "audit_log", ["case_ref"])


def _optouts() -> None:
    op.create_table(
        "optouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        _ts("created_at"),
        sa.Column("created_by", sa.String(100), nullable=True),
        sa.Column("photos", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_optouts_reference", "optouts", ["reference"])


def _purposes() -> None:
    op.create_table(
        "purposes",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.Column("created_by", sa.String(100), nullable=True),
        _ts("retired_at", nullable=True),
        sa.Column("retired_by", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("code"),
    )


def _proposals() -> None:
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("probe_face", sa.Integer(), nullable=False),
        sa.Column("face_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("case_ref", sa.String(200), nullable=True),
        sa.Column("candidate", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("proposed_by", sa.String(100), nullable=False),
        _ts("proposed_at"),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=True),
        _ts("decided_at", nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("search_id", "probe_face", "face_id", "seq", name="uq_proposal"),
    )
    op.create_index("ix_proposals_case_ref", "proposals", ["case_ref"])
    op.create_index("ix_proposals_search_id", "proposals", ["search_id"])


def _system_flags() -> None:
    op.create_table(
        "system_flags",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        _ts("updated_at"),
        sa.Column("updated_by", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )


def _ingest_jobs() -> None:
    op.create_table(
        "ingest_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        _ts("started_at"),
        _ts("finished_at", nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["collection_id"], ["collections.id"], ondelete="CASCADE"),
    )


def _api_tokens() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        _ts("created_at"),
        _ts("revoked_at", nullable=True),
        _ts("last_used_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])


def _web_sessions() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id_hash"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])


def _optout_templates() -> None:
    op.create_table(
        "optout_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("optout_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["optout_id"], ["optouts.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_optout_templates_model", "optout_templates", ["model"])
    op.create_index("ix_optout_templates_optout_id", "optout_templates", ["optout_id"])


def _images() -> None:
    op.create_table(
        "images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("face_count", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("manifest_row", sa.Integer(), nullable=True),
        _ts("ingested_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("collection_id", "sha256", name="uq_image_collection_sha"),
        sa.ForeignKeyConstraint(["collection_id"], ["collections.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["job_id"], ["ingest_jobs.id"], ondelete="SET NULL"),
    )
    op.create_index("ix_images_ingested_at", "images", ["ingested_at"])
    op.create_index("ix_images_collection_id", "images", ["collection_id"])


def _ingest_failures() -> None:
    op.create_table(
        "ingest_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["job_id"], ["ingest_jobs.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_ingest_failures_job_id", "ingest_failures", ["job_id"])


def _faces() -> None:
    op.create_table(
        "faces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("face_index", sa.Integer(), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("x2", sa.Float(), nullable=False),
        sa.Column("y2", sa.Float(), nullable=False),
        sa.Column("landmarks", sa.JSON(), nullable=False),
        sa.Column("det_score", sa.Float(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("quality_reasons", sa.JSON(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("thumbnail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["collection_id"], ["collections.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_faces_collection_id", "faces", ["collection_id"])
    op.create_index("ix_faces_image_id", "faces", ["image_id"])
    op.create_index("ix_faces_collection_id_id", "faces", ["collection_id", "id"])


# In dependency order: a table comes after every table its foreign keys point to.
TABLES: tuple[tuple[str, Callable[[], None]], ...] = (
    ("collections", _collections),
    ("users", _users),
    ("audit_log", _audit_log),
    ("optouts", _optouts),
    ("purposes", _purposes),
    ("proposals", _proposals),
    ("system_flags", _system_flags),
    ("ingest_jobs", _ingest_jobs),
    ("api_tokens", _api_tokens),
    ("web_sessions", _web_sessions),
    ("optout_templates", _optout_templates),
    ("images", _images),
    ("ingest_failures", _ingest_failures),
    ("faces", _faces),
)


def upgrade() -> None:
    bind = op.get_bind()
    # Offline (`--sql`) there is no database to look at: emit the whole schema.
    existing = set() if context.is_offline_mode() else set(sa.inspect(bind).get_table_names())
    for name, create in TABLES:
        if name not in existing:
            create()
    if bind.dialect.name == "sqlite":
        for name, verb in TRIGGERS:
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {verb} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name, _verb in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for name, _create in reversed(TABLES):
        op.drop_table(name)
