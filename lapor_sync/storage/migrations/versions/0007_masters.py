"""Master data of the national platform: the institutions it lists and its reply templates (CONTRACT §7 G8).

``master_institution`` and ``reply_template``: what ``lapor-sync masters pull`` last read, per
deployment institution, with first-seen, last-seen, updated and gone instants (UTC); a row no
longer listed is marked gone, never deleted.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 20:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lapor_sync.storage.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _instants() -> list[sa.Column]:
    utc = lapor_sync.storage.types.UTCDateTime(timezone=True)
    return [
        sa.Column("first_seen_at", utc, nullable=False),
        sa.Column("last_seen_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.Column("gone_at", utc, nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "master_institution",
        sa.Column("institution_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("national_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        *_instants(),
        sa.PrimaryKeyConstraint("institution_id", "national_id"),
    )
    op.create_table(
        "reply_template",
        sa.Column("institution_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("national_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        *_instants(),
        sa.PrimaryKeyConstraint("institution_id", "code"),
    )


def downgrade() -> None:
    op.drop_table("reply_template")
    op.drop_table("master_institution")
