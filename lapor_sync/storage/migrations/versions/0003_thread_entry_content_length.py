"""Thread entries keep their content's length as received (NUL and lone surrogates are removed to store it).

Rows stored before this revision take the length of their stored content.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 10:28:42.781398
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("thread_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_length", sa.Integer(), nullable=True))
    op.execute("UPDATE thread_entry SET content_length = length(content)")
    with op.batch_alter_table("thread_entry", schema=None) as batch_op:
        batch_op.alter_column("content_length", existing_type=sa.Integer(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("thread_entry", schema=None) as batch_op:
        batch_op.drop_column("content_length")
