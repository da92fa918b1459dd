"""Job leases: one runner per (institution, job); see lapor_sync.storage.lease.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 09:29:18.644372
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import lapor_sync.storage.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lease",
        sa.Column("institution_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("job", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("acquired_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("institution_id", "job"),
    )


def downgrade() -> None:
    op.drop_table("lease")
