"""What agency staff can do to a case, and the rules that guard each action.

Rules mirror what the national platform accepts (CONTRACT §5), checked locally first so that staff
get the refusal at once instead of a dead letter later.
"""

from __future__ import annotations

from enum import StrEnum

from lapor_sync.domain.errors import LaporSyncError
from lapor_sync.domain.status import CaseState


class AgencyAction(StrEnum):
    """An action that becomes one outbox row and one national call.

    ``followup``: a follow-up (tindak lanjut) to the reporter; ``complete``: the case is done
    (allowed once the institution has posted a follow-up); ``return``: archive and return to the
    reporter, insufficient supporting data; ``forward``: not our authority, forward to another
    institution. Which national call reports each is declared in the mapping's ``action_map``
    (:meth:`lapor_sync.domain.routing.CityMapping.national_call_for`); the packaged one follows
    CONTRACT §5: a follow-up post, status Selesai, and a reject request with ``not_authority``
    0 and 1.
    """

    FOLLOWUP = "followup"
    COMPLETE = "complete"
    RETURN = "return"
    FORWARD = "forward"


class ActionRefused(LaporSyncError):
    """An agency action that the case's state or the national rules do not allow."""


def check_action(action: AgencyAction, state: CaseState, *, has_institution_followup: bool) -> None:
    """Raise :class:`ActionRefused` when ``action`` is not allowed on a case in ``state``.

    Args:
        action: what staff want to do.
        state: the case's current internal state.
        has_institution_followup: whether any institution follow-up exists (local or national).
    """
    if not state.is_open:
        raise ActionRefused(f"the case is {state.value}; only open cases (new, in_progress) can be changed")
    if action is AgencyAction.COMPLETE and not has_institution_followup:
        raise ActionRefused("post a follow-up (tindak lanjut) before completing: LAPOR! refuses Selesai without one")


_RANK = {CaseState.NEW: 0, CaseState.IN_PROGRESS: 1}


def merge_state(local: CaseState, national: CaseState | None, *, local_change_pending: bool) -> CaseState:
    """Decide a case's state after a pull.

    Args:
        local: the state in the city's records.
        national: the state the national status maps to, ``None`` when unknown.
        local_change_pending: whether a local status change is still in the outbox.

    A final national state always wins (the platform decided: auto-close, archive, forward).
    An open national state never moves a case backwards (in_progress stays in_progress while the
    follow-up that moves it nationally waits in the outbox), and does not reopen a case whose
    completion is still waiting to be pushed.
    """
    if national is None:
        return local
    if not national.is_open:
        return national
    if not local.is_open:
        return local if local_change_pending else national
    return local if _RANK[local] >= _RANK[national] else national
