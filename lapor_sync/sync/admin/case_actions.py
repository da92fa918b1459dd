"""Staff's actions on a case (follow-up, complete, return, forward): the case change and its outbox row, in one transaction.

``lapor-sync case followup|complete|return|forward`` and the console both call :func:`act_on_case`.
The rules of each action are the city records' (:meth:`BuiltinCityRecords.act`, CONTRACT §5);
this module adds what the caller would otherwise repeat: finding the case, the reply template's
text, the forward target's check, and saying what was queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lapor_sync.domain.actions import ActionRefused, AgencyAction
from lapor_sync.domain.routing import CityMapping
from lapor_sync.reports.case_lookup import find_case
from lapor_sync.sync.admin.masters import followup_text

if TYPE_CHECKING:
    from lapor_sync.app import App

REQUESTS = (AgencyAction.RETURN, AgencyAction.FORWARD)  # reject requests: an admin decides (CONTRACT §5)
LABELS = {
    AgencyAction.FOLLOWUP: "Follow-up",
    AgencyAction.COMPLETE: "Completion (selesai)",
    AgencyAction.RETURN: "Return request (data dukung kurang)",
    AgencyAction.FORWARD: "Forward request (bukan wewenang)",
}


@dataclass(frozen=True)
class QueuedAction:
    """What an action queued for LAPOR!.

    Attributes:
        outbox_id: the outbox row that carries it (sent by the next push).
        action: the action.
        label: the action for people, e.g. "Return request (data dukung kurang)".
        waits_for_approval: a return or forward is a request: the case stays open until a LAPOR!
            admin approves it.
        case_id: the case.
        tracking_id: its tracking id (without ``#``).
        case_state: the case's state after the action.
        note: how the case reference was read, when it could be read two ways (see :func:`find_case`).
        warning: a forward to an institution the mapping does not list as outside the city.
    """

    outbox_id: int
    action: AgencyAction
    label: str
    waits_for_approval: bool
    case_id: int
    tracking_id: str
    case_state: str
    note: str | None = None
    warning: str | None = None


def check_forward_target(mapping: CityMapping, institution_id: int) -> str | None:
    """Refuse a forward to the city or its agencies; warn about one to an institution the mapping does not list.

    Returns:
        The warning, or ``None`` for one of the mapping's outside institutions.

    Raises:
        ActionRefused: ``institution_id`` is the city or one of its agencies' sub-units.
    """
    if institution_id == mapping.institution.id or mapping.agency_for_institution(institution_id):
        raise ActionRefused(
            f"institution {institution_id} is the city or one of its agencies: a case cannot be forwarded there"
        )
    if mapping.outside_institution(institution_id) is None:
        return f"institution {institution_id} is not an outside institution in the mapping file; forwarding anyway"
    return None


def act_on_case(
    app: App,
    ref: str,
    action: AgencyAction,
    content: str,
    *,
    template: str | None = None,
    is_secret: bool | None = None,
    target_institution_id: int | None = None,
) -> QueuedAction:
    """Apply ``action`` to a case and queue its national call, in one committed transaction.

    Writes no sync event: the outbox row is the record (the push logs its delivery). Who acted is
    the caller's to audit.

    Args:
        app: the application (its writable database, mapping and clock).
        ref: the case: a case id (``"12"``) or a tracking id (``"#1916449"``), as :func:`find_case`.
        action: what staff do.
        content: the follow-up's text, or the note / reason of complete, return, forward; for a
            follow-up from ``template``, the text added after the template's (may be empty).
        template: a follow-up only: the code of a stored LAPOR! reply template to start from.
        is_secret: a follow-up only: confidential or not; ``None`` takes the complaint's own.
        target_institution_id: a forward only: the national institution to forward to.

    Returns:
        What was queued.

    Raises:
        ActionRefused: empty text; a template for another action than a follow-up; the case's
            state or the national rules forbid the action; a forward to the city or its agencies,
            or without a target.
        TemplateRefused: the template is unknown, no longer listed, or has placeholders.
        CaseRefInvalid, CaseNotFound: ``ref`` names no case.
    """
    if template is not None and action is not AgencyAction.FOLLOWUP:
        raise ActionRefused("a reply template starts a follow-up only")
    warning = _check_target(app.mapping, action, target_institution_id)
    with app.writable_db().session() as session:
        if template is not None:
            content = followup_text(session, app.institution_id, template, content.strip() or None)
        if not content.strip():
            raise ActionRefused("the text must not be empty")
        records = app.city_records(session)
        found = find_case(records, ref)
        case = found.case
        item = records.act(
            case,
            action,
            institution_id=app.mapping.acting_institution(case.agency_code),
            content=content.strip(),
            is_secret=is_secret,
            target_institution_id=target_institution_id,
        )
        session.commit()
        assert item.id is not None and case.id is not None  # flushed and stored
        return QueuedAction(
            item.id,
            action,
            LABELS[action],
            action in REQUESTS,
            case.id,
            case.tracking_id,
            case.state,
            found.note,
            warning,
        )


def _check_target(mapping: CityMapping, action: AgencyAction, target_institution_id: int | None) -> str | None:
    """A forward's target is checked before anything is read (see :func:`check_forward_target`)."""
    if action is not AgencyAction.FORWARD:
        return None
    if target_institution_id is None:
        raise ActionRefused("a forward needs the institution to forward to")
    return check_forward_target(mapping, target_institution_id)
