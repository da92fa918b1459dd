"""lapor-sync's side of a test: the App on a database and one national platform, with readers of its records.

:class:`CitySide` serves both the engine tests on the in-memory fake (``tests/unit``) and the end-to-end
harness on the served simulator (:class:`tests.support.e2e.Harness` extends it): staff act through the
city-records port, a sync runs through the sync service, and the helpers read what was stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import select

from lapor_sync.app import App
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.ports import NationalPlatform
from lapor_sync.storage.models import Case, OutboxItem, SetAsideRecord, SyncEvent, SyncRun, ThreadEntry
from lapor_sync.sync.cursor import read_cursor
from lapor_sync.sync.service import SyncService

SYNCED_TABLES = ("case", "thread_entry", "binding", "outbox", "cursor")
"""The tables a sync writes city data to (sync_run and sync_event record every run by design)."""


@dataclass
class CitySide:
    """The App wired to ``platform``; helpers act as agency staff and read the city's records.

    ``clock`` is the national side's clock, which the App shares unless a test gives it one of its own.
    """

    app: App
    platform: NationalPlatform
    clock: ManualClock
    _service: SyncService | None = field(default=None, init=False, repr=False)

    @property
    def institution_id(self) -> int:
        """The city's national institution."""
        return self.app.institution_id

    def service(self, platform: NationalPlatform | None = None) -> SyncService:
        """The sync service on the side's platform, or on ``platform``."""
        if platform is not None:
            return self.app.sync_service(platform)
        self._service = self._service or self.app.sync_service(self.platform)
        return self._service

    def sync(self, *, pull: bool = True, push: bool = True, platform: NationalPlatform | None = None) -> SyncRun:
        """Run one sync cycle and return its run row."""
        return self.service(platform).run(pull=pull, push=push)

    def act(
        self, complaint_id: int, action: AgencyAction, content: str = "Sudah kami tindak lanjuti.", **kwargs: Any
    ) -> OutboxItem:
        """Apply a staff action to the case of ``complaint_id`` as its agency's sub-unit, and commit."""
        with self.app.db.session() as session:
            records = self.app.city_records(session)
            case = records.get_case(complaint_id=complaint_id)
            as_institution = self.app.mapping.acting_institution(case.agency_code)
            item = records.act(case, action, institution_id=as_institution, content=content, **kwargs)
            session.commit()
            return item

    def case(self, complaint_id: int) -> Case:
        """The city's case of ``complaint_id``."""
        with self.app.db.session() as session:
            return self.app.city_records(session).get_case(complaint_id=complaint_id)

    def cases(self) -> list[Case]:
        """Every case, in complaint id order."""
        with self.app.db.session() as session:
            return list(session.exec(select(Case).order_by(Case.complaint_id)))

    def thread(self, complaint_id: int) -> list[ThreadEntry]:
        """The case's thread in the city's records, oldest first."""
        with self.app.db.session() as session:
            records = self.app.city_records(session)
            return records.thread(records.get_case(complaint_id=complaint_id).id)

    def outbox(self, item_id: int) -> OutboxItem:
        """One outbox row, as stored now."""
        with self.app.db.session() as session:
            row = session.get(OutboxItem, item_id)
            assert row is not None
            return row

    def set_aside(self) -> list[SetAsideRecord]:
        """Every set-aside record, oldest first."""
        with self.app.db.session() as session:
            return list(session.exec(select(SetAsideRecord).order_by(SetAsideRecord.id)))

    def events(self, kind: str) -> list[SyncEvent]:
        """The sync events of ``kind``, oldest first."""
        with self.app.db.session() as session:
            return list(session.exec(select(SyncEvent).where(SyncEvent.kind == kind).order_by(SyncEvent.id)))

    def all_events(self) -> list[SyncEvent]:
        """Every sync event."""
        with self.app.db.session() as session:
            return list(session.exec(select(SyncEvent).order_by(SyncEvent.id)))

    def cursor(self) -> datetime | None:
        """The committed inbox cursor (aware UTC)."""
        with self.app.db.session() as session:
            return read_cursor(session, self.institution_id)

    def table_rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of :data:`SYNCED_TABLES`, in primary key order, to compare before and after."""
        rows = {}
        with self.app.db.engine.connect() as conn:
            for table in SYNCED_TABLES:
                order = "name" if table == "cursor" else "id"
                rows[table] = [tuple(r) for r in conn.execute(text(f'SELECT * FROM "{table}" ORDER BY {order}'))]
        return rows
