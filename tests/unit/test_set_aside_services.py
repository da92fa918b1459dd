"""Set-aside records from the console: read again in a worker thread, then kept with an agency by hand."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from lapor_sync.domain.routing import OVERRIDE_RULE
from lapor_sync.sync.admin.reassign import Reassigner
from lapor_sync.sync.admin.resync import ResyncOutcome, ResyncResult, run_resync
from lapor_sync.sync.admin.set_aside import SetAsideRefused, assign_agency, set_aside_selection
from tests.support.city import CitySide
from tests.support.fake_platform import FakePlatform
from tests.unit.test_read_failures import null_results, three_in_a_row


def set_one_aside(city: CitySide, fake: FakePlatform) -> int:
    """A complaint whose detail answers ``{"results": null}`` at its first read is set aside; return its record id."""
    city.app.settings.set_aside_after_failures = 1
    _, poisoned, _ = three_in_a_row(city, fake)
    fake.fail_next("fetch_complaint", null_results(), complaint_id=poisoned.complaint_id)
    assert city.sync(push=False).set_aside == 1
    [record] = city.set_aside()
    assert record.id is not None
    return record.id


def reassigner(city: CitySide) -> Reassigner:
    return Reassigner(city.app.db, city.app.leases(), city.app.mapping)


def test_a_set_aside_record_is_resynced_from_a_worker_thread_then_assigned_an_agency(
    city: CitySide, fake: FakePlatform
) -> None:
    record_id = set_one_aside(city, fake)
    with pytest.raises(SetAsideRefused, match="no case yet"):
        assign_agency(reassigner(city), record_id, "PUPR", actor="console:ani", reason="jalan", now=city.clock.now())

    with ThreadPoolExecutor(max_workers=1) as worker:  # as the console runs it: off the request's thread
        selection = set_aside_selection(city.app.db, city.app.institution_id, [record_id])
        result: ResyncResult = worker.submit(
            run_resync, city.app.sync_service(fake), selection, requested_by="console:ani"
        ).result()

    assert result.run.id is not None and result.run.outcome == "ok" and result.run.job == "resync"
    [change] = result.changes
    assert change.outcome is ResyncOutcome.CREATED and change.new_agency == "DINSOS"
    assert city.set_aside()[0].resolved_at is not None

    done = assign_agency(
        reassigner(city), record_id, "pupr", actor="console:ani", reason="saluran, bukan bansos", now=city.clock.now()
    )
    assert (done.previous_agency, done.routing.agency_code, done.routing.rule) == ("DINSOS", "PUPR", OVERRIDE_RULE)
    assert city.case(change.complaint_id or 0).agency_code == "PUPR"
    [event] = city.events("case.reassigned")
    assert "console:ani" in event.message


def test_unknown_set_aside_records_are_refused_before_anything_runs(city: CitySide, fake: FakePlatform) -> None:
    with pytest.raises(SetAsideRefused, match="no set-aside record 42"):
        set_aside_selection(city.app.db, city.app.institution_id, [42])
    with pytest.raises(SetAsideRefused, match="no set-aside record 42"):
        assign_agency(reassigner(city), 42, "PUPR", actor="console:ani", reason="x", now=city.clock.now())
    assert fake.calls == []
