"""The simulated platform's admin panel export: its world's complaints of a period, as the panel lists them.

Tests, and the demo-scale check, write it with :func:`~lapor_sync.exports.write.write_export` and
reconcile it with what lapor-sync stored: after a complete sync the two agree.
"""

from __future__ import annotations

from datetime import date

from lapor_sync.exports.columns import STATE_OF_CODE, NationalState
from lapor_sync.exports.write import ExportRecord
from lapor_sync.simulator.catalog import institution_name
from lapor_sync.simulator.workdays import WIB
from lapor_sync.simulator.world import World


def export_records(world: World, first: date, last: date) -> list[ExportRecord]:
    """The rows of the panel's export for the complaints created between ``first`` and ``last`` (WIB days, inclusive).

    Tanggal is the complaint's creation day (WIB); the status is LAPOR!'s name for its code, or
    ``Dialihkan`` once it was forwarded away; Stakeholder the institution it is dispositioned to
    (the one it left, when forwarded); User the reporter's (fictitious) name, ``Anonim`` when anonymous.
    """
    records = []
    with world.lock:
        for c, still_here in world.handled(first, last):
            state = STATE_OF_CODE.get(c.status_code) if still_here else NationalState.FORWARDED
            answered = any(f.user_type == "instansi" for f in c.followups)
            records.append(
                ExportRecord(
                    tracking_id=c.tracking_id,
                    complaint_id=c.complaint_id,
                    day=c.created_at.astimezone(WIB).date(),
                    title=c.title,
                    stakeholder=institution_name(c.disposition_id if still_here else c.first_disposition_id) or "",
                    status=state.value if state else str(c.status_code),
                    user=c.reporter.name if c.reporter and not c.is_anonymous else "Anonim",
                    response="Sudah ditanggapi" if answered else "Belum ditanggapi",
                )
            )
    return records
