"""Embeddings outside the faces rows, gallery counters, 64-bit ids, append-only audit log on PostgreSQL.

Revision ID: 0004_embeddings
Revises: 0003_ingest_job_owner

- `face_embeddings` (face_id, collection_id, embedding): every face's embedding moves there, in the same
  transaction, and `faces.embedding` is dropped (on SQLite by rebuilding `faces`, which also makes its ids
  AUTOINCREMENT: a deleted face's id is never reused).
- `collection_counters` (collection_id, faces, version): filled from the rows.
- PostgreSQL: face and image ids become BIGINT (their sequences too); SQLite's rowids are 64-bit already.
  The audit log refuses UPDATE, DELETE and TRUNCATE by triggers, as SQLite's triggers do since 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_embeddings"
down_revision: str | Sequence[str] | None = "0003_ingest_job_owner"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Written out here rather than imported, so this revision keeps doing what it did whatever later code says.
PG_FUNCTION = (
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$"
)
PG_TRIGGERS = (
    ("audit_log_no_update", "BEFORE UPDATE ON audit_log FOR EACH ROW"),
    ("audit_log_no_delete", "BEFORE DELETE ON audit_log FOR EACH ROW"),
    ("audit_log_no_truncate", "BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT"),
)


def _pg_ids_to_bigint() -> None:
    for table, column in (("images", "id"), ("faces", "id"), ("faces", "image_id"), ("proposals", "face_id")):
        op.alter_column(table, column, type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False)
    for table in ("images", "faces"):
        # A serial column's sequence is AS integer: it would stop at 2^31 - 1 whatever the column's type.
        op.execute(
            f"DO $$ DECLARE s text := pg_get_serial_sequence('{table}', 'id'); BEGIN "
            f"IF s IS NOT NULL THEN EXECUTE 'ALTER SEQUENCE ' || s || ' AS bigint'; END IF; END $$"
        )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _pg_ids_to_bigint()
    op.create_table(
        "face_embeddings",
        sa.Column("face_id", Id64, autoincrement=False, nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("face_id"),
        sa.ForeignKeyConstraint(["face_id"], ["faces.id"], ondelete="CASCADE"),
    )
    op.execute(
        "INSERT INTO face_embeddings (face_id, collection_id, embedding) SELECT id, collection_id, embedding FROM faces"
    )
    op.create_index("ix_face_embeddings_collection_id_face_id", "face_embeddings", ["collection_id", "face_id"])
    if dialect == "sqlite":
        # Rebuilt by copy and rename (foreign keys are off during migrations, so no row of face_embeddings is
        # cascaded away by the DROP of the old table). AUTOINCREMENT starts above the largest id copied.
        with op.batch_alter_table("faces", recreate="always", table_kwargs={"sqlite_autoincrement": True}) as batch:
            batch.drop_column("embedding")
    else:
        op.drop_column("faces", "embedding")

    op.create_table(
        "collection_counters",
        sa.Column("collection_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("faces", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("collection_id"),
        sa.ForeignKeyConstraint(["collection_id"], ["collections.id"], ondelete="CASCADE"),
    )
    op.execute(
        "INSERT INTO collection_counters (collection_id, faces, version) "
        "SELECT c.id, (SELECT count(*) FROM faces f WHERE f.collection_id = c.id), 1 FROM collections c"
    )

    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        for name, when in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON audit_log")
            op.execute(f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION audit_log_append_only()")
            # ALWAYS: it fires even under `session_replication_role = replica`.
            op.execute(f"ALTER TABLE audit_log ENABLE ALWAYS TRIGGER {name}")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for name, _when in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_table("collection_counters")
    with op.batch_alter_table("faces") as batch:
        batch.add_column(sa.Column("embedding", sa.LargeBinary(), nullable=True))
    op.execute("UPDATE faces SET embedding = (SELECT e.embedding FROM face_embeddings e WHERE e.face_id = faces.id)")
    with op.batch_alter_table("faces") as batch:
        batch.alter_column("embedding", existing_type=sa.LargeBinary(), nullable=False)
    op.drop_index("ix_face_embeddings_collection_id_face_id", table_name="face_embeddings")
    op.drop_table("face_embeddings")
    # Ids stay BIGINT on PostgreSQL: narrowing them could fail on ids past 2^31, and 0003's schema works
    # with either.
