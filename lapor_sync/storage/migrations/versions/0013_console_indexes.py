"""Indexes for the console's listings: every filter, in the keyset (…, id) order the pages read.

A page lists rows newest first by id below a bound (``lapor_sync.queries``); an index whose last
column is ``id`` serves a filter and that order at once, so a page reads its 51 rows and stops,
whether the table holds a thousand rows or a million. The single-column sync_event indexes on
``tracking_id``, ``kind`` and ``run_id`` are replaced by their (…, id) forms, which serve every
query the single ones did.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 00:00:00.000000
"""

from __future__ import annotations

from alembic import op

from lapor_sync.storage.trigram import create_trigram_indexes, drop_trigram_indexes

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ADDED = (
    ("sync_event", "ix_sync_event_tracking", ["tracking_id", "id"]),
    ("sync_event", "ix_sync_event_kind_id", ["kind", "id"]),
    ("sync_event", "ix_sync_event_run", ["run_id", "id"]),
    ("sync_event", "ix_sync_event_level", ["level", "id"]),
    ("sync_event", "ix_sync_event_agency", ["agency_code", "id"]),
    ("case", "ix_case_agency", ["institution_id", "agency_code", "id"]),
    ("case", "ix_case_state_id", ["institution_id", "state", "id"]),
    ("case", "ix_case_received", ["institution_id", "received_at"]),
    ("case", "ix_case_closed", ["institution_id", "closed_at"]),
    ("outbox", "ix_outbox_state_id", ["institution_id", "state", "id"]),
    ("outbox", "ix_outbox_kind", ["institution_id", "kind", "id"]),
    ("outbox", "ix_outbox_tracking", ["tracking_id"]),
    ("outbox", "ix_outbox_delivered", ["institution_id", "delivered_at"]),
    ("sync_run", "ix_sync_run_job", ["institution_id", "job", "id"]),
    ("sync_run", "ix_sync_run_outcome", ["institution_id", "outcome", "id"]),
    ("sync_run", "ix_sync_run_trigger", ["institution_id", "trigger", "id"]),
    ("set_aside", "ix_set_aside_institution", ["institution_id", "id"]),
)
REPLACED = (
    ("sync_event", "ix_sync_event_tracking_id", ["tracking_id"]),
    ("sync_event", "ix_sync_event_kind", ["kind"]),
    ("sync_event", "ix_sync_event_run_id", ["run_id"]),
)


def upgrade() -> None:
    for table, name, columns in ADDED:
        op.create_index(name, table, columns, unique=False)
    for table, name, _ in REPLACED:
        op.drop_index(name, table_name=table)
    create_trigram_indexes(op.get_bind())


def downgrade() -> None:
    drop_trigram_indexes(op.get_bind())
    for table, name, columns in REPLACED:
        op.create_index(name, table, columns, unique=False)
    for table, name, _ in ADDED:
        op.drop_index(name, table_name=table)
