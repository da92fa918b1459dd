"""One sync cycle: pull, push, or both, recorded as one sync run."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from lapor_sync.domain.clock import Clock
from lapor_sync.domain.errors import NationalPlatformError
from lapor_sync.domain.routing import CityMapping
from lapor_sync.storage.database import Database
from lapor_sync.storage.models import Agency, SyncRun
from lapor_sync.sync.journal import Level, RunJournal
from lapor_sync.sync.pull import Puller
from lapor_sync.sync.push import Pusher


def sync_agencies(session: Session, mapping: CityMapping) -> bool:
    """Make the agency table match the mapping file; returns whether anything was written."""
    stored = {a.code: a for a in session.exec(select(Agency))}
    changed = False
    for agency in mapping.agencies:
        row = stored.get(agency.code)
        wanted = (agency.name, agency.abbreviation, agency.institution_id)
        if row is not None and (row.name, row.abbreviation, row.national_institution_id) == wanted:
            continue
        row = row or Agency(code=agency.code, name=agency.name)
        row.name, row.abbreviation, row.national_institution_id = wanted
        session.add(row)
        changed = True
    return changed


@dataclass
class SyncService:
    """Runs sync cycles for one institution.

    Args:
        db: the city's database.
        mapping: the city's routing rules.
        puller: the pull half.
        pusher: the push half.
        clock: where "now" comes from.
    """

    db: Database
    mapping: CityMapping
    puller: Puller
    pusher: Pusher
    clock: Clock

    def run(self, *, pull: bool = True, push: bool = True, trigger: str = "command") -> SyncRun:
        """Run one cycle and return its finished run row (outcome ``ok`` or ``failed``).

        A failure of the platform (HTTP, protocol, authentication) ends the run as ``failed`` with
        its reason; nothing is raised, and the cursor stays where the last good run left it.
        """
        with self.db.session() as session:
            if sync_agencies(session, self.mapping):
                session.commit()
        job = "sync" if pull and push else ("pull" if pull else "push")
        journal = RunJournal(self.db, self.clock, self.mapping.institution.id, job, trigger).start()
        try:
            if pull:
                self.puller.run(journal)
            if push:
                self.pusher.run(journal)
        except NationalPlatformError as exc:
            journal.standalone_event("run.failed", f"Sync run stopped: {exc}", level=Level.ERROR)
            return journal.finish(error=str(exc))
        except BaseException as exc:
            # A bug or an interrupt: close the run so it does not stay "running" forever.
            journal.finish(error=f"{type(exc).__name__}: internal error, see the service log")
            raise
        return journal.finish()
