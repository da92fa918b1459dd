"""A case reassigned by hand stays with its agency: table ``case_override``.

One row per case an admin reassigned (``lapor-sync case reassign``): the agency, who, when (UTC),
why. Pulls and resyncs route such a case to that agency until the row is deleted (``--clear``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 21:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import lapor_sync.storage.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_override",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("agency_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("set_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("set_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["agency_code"], ["agency.code"]),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("case_id"),
    )


def downgrade() -> None:
    op.drop_table("case_override")
