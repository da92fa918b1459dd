"""Complaints whose reads keep failing are counted, so that the pull can set one aside and go on.

``read_failure``: one row per complaint whose read (detail or follow-ups) failed in consecutive pull
runs, with the count and the last reason (lapor_sync.sync.read_failures); a read that succeeds
deletes it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 20:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lapor_sync.storage.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "read_failure",
        sa.Column("institution_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("complaint_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("first_failed_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["last_run_id"], ["sync_run.id"]),
        sa.PrimaryKeyConstraint("institution_id", "complaint_id"),
    )


def downgrade() -> None:
    op.drop_table("read_failure")
