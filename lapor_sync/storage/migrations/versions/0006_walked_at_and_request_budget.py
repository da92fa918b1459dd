"""The inbox cursor remembers when its last proven walk began; request budgets are counted per WIB day.

``cursor.walked_at``: when the last inbox walk that proved itself against page drift began; with it
a pull skips an overlap window already settled (lapor_sync.sync.watermark). NULL for rows stored
before this revision: their next pull walks the window as before, and dates it.
``request_budget``: requests spent under a named budget on one WIB day (the rechecks of open cases,
lapor_sync.sync.recheck), so a restart does not reset the day's count.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lapor_sync.storage.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cursor", schema=None) as batch_op:
        batch_op.add_column(sa.Column("walked_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "request_budget",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("updated_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("request_budget")
    with op.batch_alter_table("cursor", schema=None) as batch_op:
        batch_op.drop_column("walked_at")
