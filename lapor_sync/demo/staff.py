"""Simulated agency staff: each weekly round they work the open cases in the city's records.

They act only through the city-records port, exactly as a liaison officer would with
``lapor-sync case followup|complete|return|forward``; every action lands in the outbox.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlmodel import Session, col, select

from lapor_sync.adapters.city.builtin import BuiltinCityRecords
from lapor_sync.demo.plan import Outcome, forward_target
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.routing import CityMapping
from lapor_sync.domain.status import CaseState
from lapor_sync.storage.models import Case, OutboxItem, ThreadEntry

REQUESTS = (AgencyAction.RETURN.value, AgencyAction.FORWARD.value)
_CASES_PER_QUERY = 1000

FOLLOWUP_TEXT = (
    "Terima kasih atas laporan Saudara. {agency} telah menindaklanjuti laporan ini: petugas sudah "
    "memeriksa lokasi dan menjadwalkan penanganan. Kami akan menyampaikan perkembangan berikutnya."
)
REPLY_TEXT = "Terima kasih atas tanggapan Saudara. {agency} sedang menindaklanjuti hal yang disampaikan."
DONE_TEXT = "Penanganan telah selesai dilaksanakan oleh {agency}."
RETURN_TEXT = "Data dukung kurang: mohon lengkapi lokasi rinci dan foto kejadian agar dapat ditindaklanjuti."
FORWARD_TEXT = "Bukan wewenang Pemerintah Kota Palangka Raya; mohon diteruskan ke instansi yang berwenang."


@dataclass
class StaffRound:
    """What the staff did in one round."""

    followups: int = 0
    completions: int = 0
    requests: int = 0


class SimulatedStaff:
    """Works the open cases according to the demo plan.

    Args:
        mapping: the city's mapping (agency names and national sub-unit ids).
        outcomes: the plan, by complaint id; unplanned complaints are completed.
    """

    def __init__(self, mapping: CityMapping, outcomes: dict[int, Outcome]) -> None:
        self.mapping = mapping
        self.outcomes = outcomes

    def work(self, records: BuiltinCityRecords, *, last_round: bool) -> StaffRound:
        """Act on every open case once; the caller commits. ``last_round`` closes what must close."""
        done = StaffRound()
        session = records.session
        requested = set(session.exec(select(OutboxItem.case_id).where(col(OutboxItem.kind).in_(REQUESTS))))
        open_cases = session.exec(
            select(Case)
            .where(
                Case.institution_id == records.institution_id,
                col(Case.state).in_([CaseState.NEW.value, CaseState.IN_PROGRESS.value]),
            )
            .order_by(Case.id)
        )
        to_work = [case for case in open_cases if case.id not in requested]
        threads = _threads(session, [case.id for case in to_work])
        for case in to_work:
            self._work_case(records, case, threads.get(case.id, []), last_round, done)
        return done

    def _follow_up(self, records: BuiltinCityRecords, case: Case, text: str, done: StaffRound) -> None:
        """Post ``text`` (its ``{agency}``: the case's agency) as a follow-up of the case's agency, and count it."""
        agency = self.mapping.agency(case.agency_code)
        as_institution = self.mapping.acting_institution(case.agency_code)
        records.act(case, AgencyAction.FOLLOWUP, institution_id=as_institution, content=text.format(agency=agency.name))
        done.followups += 1

    def _work_case(
        self, records: BuiltinCityRecords, case: Case, thread: list[ThreadEntry], last_round: bool, done: StaffRound
    ) -> None:
        outcome = self.outcomes.get(case.complaint_id, Outcome.COMPLETE)
        agency = self.mapping.agency(case.agency_code)
        as_institution = self.mapping.acting_institution(case.agency_code)
        ours = [e for e in thread if e.origin == "agency" or e.author_type == "instansi"]
        if not ours:
            if outcome is Outcome.RETURN:
                records.act(case, AgencyAction.RETURN, institution_id=as_institution, content=RETURN_TEXT)
                done.requests += 1
                return
            if outcome is Outcome.FORWARD:
                records.act(
                    case,
                    AgencyAction.FORWARD,
                    institution_id=as_institution,
                    content=FORWARD_TEXT,
                    target_institution_id=forward_target(case.category_name),
                )
                done.requests += 1
                return
            self._follow_up(records, case, FOLLOWUP_TEXT, done)
            if not (last_round and outcome in (Outcome.COMPLETE, Outcome.AUTO_CLOSE)):
                return
        elif thread[-1].author_type == "pelapor" and outcome is not Outcome.COMPLETE:
            # The reporter answered: respond, which also restarts LAPOR!'s auto-close clock.
            self._follow_up(records, case, REPLY_TEXT, done)
        if outcome is Outcome.COMPLETE or (last_round and outcome is Outcome.AUTO_CLOSE):
            records.act(
                case, AgencyAction.COMPLETE, institution_id=as_institution, content=DONE_TEXT.format(agency=agency.name)
            )
            done.completions += 1


def _threads(session: Session, case_ids: list[int | None]) -> dict[int | None, list[ThreadEntry]]:
    """Return the threads of ``case_ids``, oldest entry first, as ``records.thread`` orders them.

    One query per round instead of one per open case: reading threads case by case was a sixth
    of the staff rounds' time in a py-spy profile of the demo, the rest being the actions.
    """
    threads: dict[int | None, list[ThreadEntry]] = defaultdict(list)
    # In chunks: SQLite takes at most 32,766 parameters in one statement.
    for start in range(0, len(case_ids), _CASES_PER_QUERY):
        entries = session.exec(
            select(ThreadEntry)
            .where(col(ThreadEntry.case_id).in_(case_ids[start : start + _CASES_PER_QUERY]))
            .order_by(ThreadEntry.case_id, ThreadEntry.created_at, ThreadEntry.id)
        )
        for entry in entries:
            threads[entry.case_id].append(entry)
    return threads
