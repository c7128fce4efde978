"""Index audit_log(action, ts): the per-user search quota and case reports select by action over a period.

Revision ID: 0002_audit_action_ts
Revises: 0001_initial
Create Date: 2026-01-20
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002_audit_action_ts"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain CREATE INDEX on every backend; no batch mode, which on SQLite would rebuild audit_log and
    # lose its append-only triggers.
    op.create_index("ix_audit_log_action_ts", "audit_log", ["action", "ts"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_action_ts", table_name="audit_log")
