"""Console sign-out ends the session server-side: column ``console_user.signed_out_at``.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 00:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lapor_sync.storage.types

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("console_user") as batch:
        batch.add_column(sa.Column("signed_out_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("console_user") as batch:
        batch.drop_column("signed_out_at")
