"""Outbox rows are claimed with a fencing token; sync runs name their tick, holder and leases.

Outbox: ``fence`` counts the claims of a row (0 for rows stored before this revision), and
``claimed_by``/``claimed_until`` say which pusher holds the row in ``sending`` and until when.
Sync runs: ``tick`` is the scheduled instant a worker's run belongs to (NULL for manual runs and
for runs stored before this revision), unique per institution and job, so one tick runs once;
``holder`` and ``leases`` say who ran it under which job leases, so a run left ``running`` by a
dead process can be told apart and closed as ``abandoned``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lapor_sync.storage.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fence", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("claimed_until", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tick", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("holder", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("leases", sa.String(length=64), nullable=True))
        batch_op.create_index("uq_sync_run_tick", ["institution_id", "job", "tick"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.drop_index("uq_sync_run_tick")
        batch_op.drop_column("leases")
        batch_op.drop_column("holder")
        batch_op.drop_column("tick")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("fence")
