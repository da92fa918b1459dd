"""Covering indexes for counting open cases' deadlines in one query (``reports.sla.count_open_cases``).

The count reads, for every open case, its agency and disposition and the time, origin and author
of each thread entry. With these two indexes it reads index entries only, never a table row:
(institution, state, agency, disposition) serves the open cases in the order the count groups them,
and (case, created_at, origin, author) the threads; the latter starts with ``case_id``, so it
replaces the single-column index on it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 00:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_case_open_sla", "case", ["institution_id", "state", "agency_code", "dispositioned_at"])
    op.create_index("ix_thread_entry_sla", "thread_entry", ["case_id", "created_at", "origin", "author_type"])
    op.drop_index("ix_thread_entry_case_id", table_name="thread_entry")


def downgrade() -> None:
    op.create_index("ix_thread_entry_case_id", "thread_entry", ["case_id"])
    op.drop_index("ix_thread_entry_sla", table_name="thread_entry")
    op.drop_index("ix_case_open_sla", table_name="case")
