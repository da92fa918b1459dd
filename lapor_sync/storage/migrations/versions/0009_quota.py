"""Sync runs say how long they waited on the request quota, and until when a running one waits.

``sync_run.quota_waited_seconds``: a run counter, the seconds its requests waited for their turn in
the client-side quota or for the gateway's window after a throttle answer (CONTRACT §7 G3, G4).
``sync_run.quota_wait_until``: while a run waits on the quota, until when (UTC); ``lapor-sync
status``, another process, shows it. Rows stored before this revision waited 0 s.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 20:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lapor_sync.storage.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quota_waited_seconds", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("quota_wait_until", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.drop_column("quota_wait_until")
        batch_op.drop_column("quota_waited_seconds")
