"""ingest_jobs.owner: which process ran a job (host:pid), so a run left "running" by a process that died
(kill -9, power loss) can be told from one that is still going, and closed as interrupted.

Revision ID: 0003_ingest_job_owner
Revises: 0002_audit_action_ts
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_ingest_job_owner"
down_revision: str | Sequence[str] | None = "0002_audit_action_ts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ADD COLUMN needs no table rebuild on SQLite (and keeps every other table's triggers untouched).
    op.add_column("ingest_jobs", sa.Column("owner", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ingest_jobs") as batch:
        batch.drop_column("owner")
