"""Console accounts: tables ``console_user``, ``api_token``, ``sign_in_attempt``, ``audit_entry``.

The web console's users (name, role, argon2id password hash), their API tokens (SHA-256 only),
failed sign-ins counted by the throttle (pruned after 15 minutes), and the audit log of who did
what to which complaint, when (UTC) and from where.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 23:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import lapor_sync.storage.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_UTC = lapor_sync.storage.types.UTCDateTime


def _string(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "console_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _string(64), nullable=False),
        sa.Column("role", _string(16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.Column("password_changed_at", _UTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_console_user_name", "console_user", ["name"], unique=True)
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("label", _string(64), nullable=False),
        sa.Column("prefix", _string(16), nullable=False),
        sa.Column("token_hash", _string(64), nullable=False),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.Column("last_used_at", _UTC(timezone=True), nullable=True),
        sa.Column("revoked_at", _UTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["console_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_api_token_user_id", "api_token", ["user_id"], unique=False)
    op.create_index("ix_api_token_prefix", "api_token", ["prefix"], unique=False)
    op.create_index("ix_api_token_token_hash", "api_token", ["token_hash"], unique=True)
    op.create_table(
        "sign_in_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _UTC(timezone=True), nullable=False),
        sa.Column("name_key", _string(64), nullable=False),
        sa.Column("address", _string(64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sign_in_attempt_at", "sign_in_attempt", ["at"], unique=False)
    op.create_index("ix_sign_in_attempt_name", "sign_in_attempt", ["name_key", "at"], unique=False)
    op.create_index("ix_sign_in_attempt_address", "sign_in_attempt", ["address", "at"], unique=False)
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _UTC(timezone=True), nullable=False),
        sa.Column("user_name", _string(64), nullable=False),
        sa.Column("role", _string(16), nullable=False),
        sa.Column("action", _string(64), nullable=False),
        sa.Column("address", _string(64), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("tracking_id", _string(32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_entry_at", "audit_entry", ["at"], unique=False)
    op.create_index("ix_audit_entry_user", "audit_entry", ["user_name", "id"], unique=False)
    op.create_index("ix_audit_entry_action", "audit_entry", ["action", "id"], unique=False)
    op.create_index("ix_audit_entry_tracking", "audit_entry", ["tracking_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_table("audit_entry")
    op.drop_table("sign_in_attempt")
    op.drop_table("api_token")
    op.drop_table("console_user")
