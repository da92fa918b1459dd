"""Initial schema: agencies, cases, threads, bindings, cursors, outbox, sync runs and events.

Revision ID: 0001
Revises:
Create Date: 2026-11-29 09:02:53.591927
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import lapor_sync.storage.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agency",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("abbreviation", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("national_institution_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("code"),
    )
    with op.batch_alter_table("agency", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agency_national_institution_id"), ["national_institution_id"], unique=False
        )

    op.create_table(
        "cursor",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("position", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "sync_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("job", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("started_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("set_aside", sa.Integer(), nullable=False),
        sa.Column("pushed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("dead_lettered", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("tracking_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("agency_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("routing_rule", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_length", sa.Integer(), nullable=False),
        sa.Column("classification_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("category_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("national_status_code", sa.Integer(), nullable=False),
        sa.Column("national_status_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("disposition_id", sa.Integer(), nullable=True),
        sa.Column("disposition_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("is_anonymous", sa.Boolean(), nullable=False),
        sa.Column("is_secret", sa.Boolean(), nullable=False),
        sa.Column("is_priority", sa.Boolean(), nullable=False),
        sa.Column("channel_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("location_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("date_of_incident", sa.Date(), nullable=True),
        sa.Column("reporter_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("reporter_email", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("reporter_phone", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("complaint_created_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dispositioned_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_code"],
            ["agency.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("institution_id", "complaint_id", name="uq_case_complaint"),
    )
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_agency_code"), ["agency_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_dispositioned_at"), ["dispositioned_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_institution_id"), ["institution_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_tracking_id"), ["tracking_id"], unique=False)

    op.create_table(
        "set_aside",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("complaint_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("first_seen_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["sync_run.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("set_aside", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_set_aside_complaint_id"), ["complaint_id"], unique=False)

    op.create_table(
        "sync_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=True),
        sa.Column("tracking_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("agency_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("level", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["sync_run.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sync_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_event_at"), ["at"], unique=False)
        batch_op.create_index("ix_sync_event_complaint", ["complaint_id", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sync_event_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_sync_event_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sync_event_tracking_id"), ["tracking_id"], unique=False)

    op.create_table(
        "binding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("tracking_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("national_updated_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("last_seen_in_inbox_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_checked_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("institution_id", "complaint_id", name="uq_binding_complaint"),
    )
    with op.batch_alter_table("binding", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_binding_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_binding_tracking_id"), ["tracking_id"], unique=False)

    op.create_table(
        "thread_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("author_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("national_id", sa.Integer(), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("is_secret", sa.Boolean(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("created_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "national_id", name="uq_thread_national"),
    )
    with op.batch_alter_table("thread_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_thread_entry_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_thread_entry_reference"), ["reference"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("tracking_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("needs_readback", sa.Boolean(), nullable=False),
        sa.Column("next_attempt_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", lapor_sync.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("thread_entry_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case.id"],
        ),
        sa.ForeignKeyConstraint(
            ["thread_entry_id"],
            ["thread_entry.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_outbox_state_next", ["state", "next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_state_next")
        batch_op.drop_index(batch_op.f("ix_outbox_case_id"))

    op.drop_table("outbox")
    with op.batch_alter_table("thread_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_thread_entry_reference"))
        batch_op.drop_index(batch_op.f("ix_thread_entry_case_id"))

    op.drop_table("thread_entry")
    with op.batch_alter_table("binding", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_binding_tracking_id"))
        batch_op.drop_index(batch_op.f("ix_binding_case_id"))

    op.drop_table("binding")
    with op.batch_alter_table("sync_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_event_tracking_id"))
        batch_op.drop_index(batch_op.f("ix_sync_event_run_id"))
        batch_op.drop_index(batch_op.f("ix_sync_event_kind"))
        batch_op.drop_index("ix_sync_event_complaint")
        batch_op.drop_index(batch_op.f("ix_sync_event_at"))

    op.drop_table("sync_event")
    with op.batch_alter_table("set_aside", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_set_aside_complaint_id"))

    op.drop_table("set_aside")
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_tracking_id"))
        batch_op.drop_index(batch_op.f("ix_case_state"))
        batch_op.drop_index(batch_op.f("ix_case_institution_id"))
        batch_op.drop_index(batch_op.f("ix_case_dispositioned_at"))
        batch_op.drop_index(batch_op.f("ix_case_agency_code"))

    op.drop_table("case")
    op.drop_table("sync_run")
    op.drop_table("cursor")
    with op.batch_alter_table("agency", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agency_national_institution_id"))

    op.drop_table("agency")
