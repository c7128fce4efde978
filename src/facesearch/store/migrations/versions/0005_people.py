"""People: faces grouped into identities (per model pack), and the corrections made to them.

Revision ID: 0005_people
Revises: 0004_embeddings

- `people` (id, model, name, created_at, template, template_faces)
- `person_faces` (face_id -> faces.id ON DELETE CASCADE, person_id -> people.id ON DELETE CASCADE)
- `person_corrections` (kind, actor, created_at, name, faces, links, before, undone_at, undone_by)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_people"
down_revision: str | Sequence[str] | None = "0004_embeddings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("template", sa.LargeBinary(), nullable=True),
        sa.Column("template_faces", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_people_model", "people", ["model"])
    op.create_table(
        "person_faces",
        sa.Column("face_id", Id64, autoincrement=False, nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("face_id"),
        sa.ForeignKeyConstraint(["face_id"], ["faces.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_person_faces_person_id", "person_faces", ["person_id"])
    op.create_table(
        "person_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("faces", sa.JSON(), nullable=False),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("person_corrections")
    op.drop_index("ix_person_faces_person_id", table_name="person_faces")
    op.drop_table("person_faces")
    op.drop_index("ix_people_model", table_name="people")
    op.drop_table("people")
