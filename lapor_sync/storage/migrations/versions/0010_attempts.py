"""Every delivery attempt of an outbox row is kept, not only its last error.

``outbox_attempt``: one row per attempt (time in UTC, outcome, HTTP status, masked error), written
by the push with the row's outcome; retention prunes it with the sync events. Rows delivered or
tried before this revision have no attempts listed (their ``last_error`` stays on the row).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 21:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lapor_sync.storage.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_attempt_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_attempt_outbox_id"), ["outbox_id"], unique=False)


def downgrade() -> None:
    op.drop_table("outbox_attempt")
