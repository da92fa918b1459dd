"""End to end, privacy: reporters' identity kept only where it belongs, personal data masked in events and
logs, a confidential complaint's texts in no log line, event or error, even when the server quotes them."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from lapor_sync.cli.app import app as cli_app
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.complaint import MalformedRecord
from lapor_sync.domain.personal_data import EMAIL_MASK, NIK_MASK, PHONE_MASK
from lapor_sync.simulator.catalog import category_id
from lapor_sync.simulator.model import Reporter
from lapor_sync.storage.models import OutboxItem, SetAsideRecord, SyncRun
from lapor_sync.sync.admin.outbox import cancel, requeue
from tests.support.e2e import CITY, DINSOS, Harness
from tests.support.secret_search import table_rows

SOSIAL = category_id("Sosial dan Kesejahteraan")
# Fictitious people and texts.
HIDDEN = {"name": "Siti Rahasia", "email": "siti.rahasia+lapor@mail.contoh.id", "phone": "0812-9999-0000"}
NAMED = Reporter("Budi Contoh", "budi@contoh.id", "0813-1111-2222")
SECRET_TITLE = "Pungli di loket Puskesmas Kereng Bangkirai"
SECRET_CONTENT = "Petugas loket meminta uang tambahan Rp 50.000 kepada setiap pasien BPJS sejak bulan Juli."
SECRET_FOLLOWUP = "Petugas yang bersangkutan sudah kami panggil dan diperiksa oleh Inspektorat."

pytestmark = pytest.mark.e2e


class ScriptedGateway(httpx.HTTPTransport):
    """HTTP to the simulator, except that chosen requests get a chosen answer (each answer used once, in order)."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[tuple[str, str, httpx.Response]] = []

    def answer(self, method: str, path: str, status: int, message: str, **headers: str) -> None:
        """Answer the next ``method`` request whose path matches ``path`` (a regex) with ``message``."""
        self.answers.append((method, path, httpx.Response(status, json={"message": message}, headers=headers)))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` on, unless an answer is waiting for it."""
        for index, (method, path, response) in enumerate(self.answers):
            if request.method == method and re.search(path, request.url.path):
                del self.answers[index]
                request.read()
                return response
        return super().handle_request(request)


@pytest.fixture
def gateway(h: Harness) -> ScriptedGateway:
    """A gateway between the harness's client and the simulator."""
    h.faults.inner.close()
    h.faults.inner = ScriptedGateway()
    return h.faults.inner


def _every_row(h: Harness) -> dict[str, list[str]]:
    """Every row of every table of the database, each as one text."""
    return {
        table: [json.dumps([str(value) for value in row.values()], ensure_ascii=False) for row in rows]
        for table, rows in table_rows(h.app.db.engine).items()
    }


def _log_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """``lapor-sync log --json`` on the harness's database (the ``h`` fixture's file)."""
    for name in [n for n in os.environ if n.startswith("LAPOR_SYNC_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LAPOR_SYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'e2e.db'}")
    result = CliRunner().invoke(cli_app, ["log", "--limit", "1000", "--json"])
    assert result.exit_code == 0, result.output
    events: list[dict[str, Any]] = json.loads(result.stdout)
    return events


def _quoted(secret: str, written: str, run: int = 16) -> list[str]:
    """The runs of ``run`` characters of ``secret`` that appear in ``written``."""
    return [secret[i : i + run] for i in range(len(secret) - run + 1) if secret[i : i + run] in written]


# -- reporters' identity ---------------------------------------------------------------------------


def test_anonymous_complaint_stores_no_reporter_identity_in_any_table(h: Harness, log_lines: Callable[[], str]) -> None:
    anonymous = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL, is_anonymous=True)
    broken_anonymous = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL, is_anonymous=True)
    named = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL, reporter=NAMED)

    def leaky_gateway(complaint: dict[str, Any]) -> None:
        if complaint["is_anonymous"] == 1:
            complaint["user"] = HIDDEN  # the wire carries an identity it should not
        if complaint["complaint_id"] == broken_anonymous.complaint_id:
            complaint["user"] = " ".join(HIDDEN.values())  # as one string, on a record that cannot be read
            complaint["is_secret"] = "maybe"

    h.faults.rewrite = leaky_gateway
    run = h.sync()

    assert (run.created, run.set_aside) == (2, 1)
    case = h.case(anonymous.complaint_id)
    assert case.is_anonymous and (case.reporter_name, case.reporter_email, case.reporter_phone) == (None,) * 3
    rows = _every_row(h)
    assert rows["set_aside"] and rows["sync_event"]  # the raw payload and the events are searched too
    for table, texts in rows.items():
        for value in HIDDEN.values():
            assert not any(value in row for row in texts), (table, value)
    holding_named = {table for table, texts in rows.items() for row in texts if NAMED.email in row}
    assert holding_named == {"case"}  # the named reporter's identity lives in the case record only
    assert h.case(named.complaint_id).reporter_email == NAMED.email
    written = log_lines()
    assert not any(value in written for value in (*HIDDEN.values(), NAMED.name, NAMED.email, NAMED.phone))


# -- personal data in events -----------------------------------------------------------------------


def test_phone_email_and_nik_masked_in_event(
    h: Harness, gateway: ScriptedGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone, email, nik = "+62 812-3456-7890", "budi.santoso@gmail.com", "6271031203900001"
    refused = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
    gateway.answer(
        "GET",
        rf"/complaints/{refused.complaint_id}/complaint$",
        422,
        f"Laporan diblokir: pelapor {phone}, {email}, NIK {nik} terdaftar ganda",
    )

    run = h.sync()

    assert run.set_aside == 1
    masked = f"pelapor {PHONE_MASK}, {EMAIL_MASK}, NIK {NIK_MASK} terdaftar ganda"
    [event] = h.events("complaint.set_aside")
    assert masked in event.message and event.complaint_id == refused.complaint_id
    with h.app.db.session() as session:
        [record] = session.exec(select(SetAsideRecord)).all()
    assert masked in record.reason
    [shown] = [e for e in _log_json(tmp_path, monkeypatch) if e["kind"] == "complaint.set_aside"]
    assert masked in shown["message"]
    assert not any(value in json.dumps(shown) for value in (phone, email, nik, "3456-7890"))


def test_personal_data_in_an_admins_cancel_reason_is_masked(h: Harness) -> None:
    complaint_id = h.new_case()
    item = h.act(complaint_id, AgencyAction.FOLLOWUP, "Mohon maaf atas keterlambatannya.")

    cancelled = cancel(
        h.app.db,
        h.clock.now(),
        CITY,
        item.id,
        requested_by="admin",
        reason="pelapor minta lewat telepon 0812-3456-7890 saja",
    )

    assert cancelled.last_error == f"pelapor minta lewat telepon {PHONE_MASK} saja"
    [event] = h.events("outbox.cancelled")
    assert PHONE_MASK in event.message and "0812" not in event.message


# -- a confidential complaint ----------------------------------------------------------------------


def test_confidential_complaint_content_absent_from_logs_and_events(
    h: Harness, gateway: ScriptedGateway, log_lines: Callable[[], str]
) -> None:
    secret = h.add_complaint(
        disposition_id=DINSOS,
        category_id=SOSIAL,
        is_secret=True,
        title=SECRET_TITLE,
        content=SECRET_CONTENT,
        reporter=NAMED,
    )
    assert h.sync().created == 1
    item = h.act(secret.complaint_id, AgencyAction.FOLLOWUP, SECRET_FOLLOWUP, is_secret=True)
    post, followups = "/complaints/followup/add$", rf"/complaints/{secret.complaint_id}/followups$"
    quoting = f"laporan '{SECRET_TITLE}' ({SECRET_CONTENT[:60]}...): tanggapan '{SECRET_FOLLOWUP}'"
    # A server that quotes back what it refuses: an ambiguous failure, a refused read-back (stops the
    # run), a retried "later" and a permanent refusal (a dead letter).
    gateway.answer("POST", post, 500, f"Gagal menyimpan {quoting}")
    assert h.sync(pull=False).failed == 1
    h.advance(timedelta(hours=2))
    gateway.answer("GET", followups, 403, f"Akses ditolak untuk {quoting}")
    assert h.sync(pull=False).outcome == "failed"
    h.advance(timedelta(hours=2))
    gateway.answer("POST", post, 503, f"Sedang pemeliharaan, {quoting}", **{"Retry-After": "1"})
    gateway.answer("POST", post, 422, f"Tidak valid: {quoting}")
    assert h.sync(pull=False).dead_lettered == 1
    requeue(h.app.db, h.clock.now(), CITY, item_id=item.id, requested_by="admin")
    assert h.sync(pull=False).pushed == 1  # then delivered, and read back by the next pull
    h.advance(timedelta(minutes=10))
    assert h.sync().outcome == "ok" and not gateway.answers

    written = log_lines()
    with h.app.db.session() as session:
        runs = [run.error or "" for run in session.exec(select(SyncRun))]
        outbox = [row.last_error or "" for row in session.exec(select(OutboxItem))]
    events = [event.message for event in h.all_events()]
    assert "POST /complaints/followup/add failed" in written  # the client's retry line was written
    assert any("HTTP 403" in error for error in runs) and any("dead-lettered" in e for e in events)
    for where, texts in (("log", [written]), ("run errors", runs), ("events", events), ("outbox", outbox)):
        for confidential in (SECRET_TITLE, SECRET_CONTENT, SECRET_FOLLOWUP):
            assert not _quoted(confidential, "\n".join(texts)), where
    case = h.case(secret.complaint_id)
    assert (case.title, case.content) == (SECRET_TITLE, SECRET_CONTENT)  # kept where it belongs
    assert [entry.content for entry in h.thread(secret.complaint_id)][-1].endswith(SECRET_FOLLOWUP)


# -- set-aside reasons and unreadable secrecy flags ----------------------------------------------------

PHONE, EMAIL = "0812-3456-7890", "budi.santoso@gmail.com"  # fictitious


def test_a_set_aside_reason_from_a_reason_phrase_is_masked(h: Harness) -> None:
    refused = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)

    def leaky_status_line(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith(f"/complaints/{refused.complaint_id}/complaint"):
            return httpx.Response(422, content=b"", extensions={"reason_phrase": f"Pelapor {PHONE} diblokir".encode()})
        return None

    forward = h.faults.handle_request
    h.faults.handle_request = lambda request: leaky_status_line(request) or forward(request)  # type: ignore[method-assign]

    assert h.sync().set_aside == 1
    with h.app.db.session() as session:
        [record] = session.exec(select(SetAsideRecord)).all()
    assert record.reason.endswith(f"HTTP 422: Pelapor {PHONE_MASK} diblokir")
    assert all(PHONE not in event.message for event in h.all_events())


@pytest.mark.parametrize("flag", ["false", "0.0", 0.0, None, "", "no", "missing"])
def test_an_unreadable_secrecy_flag_sets_the_update_aside_and_keeps_the_case_confidential(
    h: Harness, log_lines: Callable[[], str], flag: object
) -> None:
    title = "Pungli di loket Puskesmas Kereng Bangkirai"
    secret = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL, is_secret=True, title=title)
    assert h.sync().created == 1
    h.advance(timedelta(minutes=5))
    with h.world.lock:
        h.world.touch(secret.complaint_id)

    def unreadable_flag(complaint: dict[str, object]) -> None:
        if flag == "missing":
            complaint.pop("is_secret", None)
        else:
            complaint["is_secret"] = flag

    h.faults.rewrite = unreadable_flag
    run = h.sync()

    assert (run.set_aside, run.updated) == (1, 0)
    assert h.case(secret.complaint_id).is_secret  # never read as "public"
    [event] = h.events("complaint.set_aside")
    assert "data.is_secret" in event.message and title[:16] not in event.message
    assert title[:16] not in log_lines()


def test_a_set_aside_reason_is_masked_where_it_is_stored(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    # A reason built elsewhere than the wire reader (a future adapter) must not store contact data either.
    record = MalformedRecord(
        complaint_id=None, reason="inbox row refused: pelapor 0812-3456-7890 budi@contoh.id", raw={"id": "x"}
    )
    monkeypatch.setattr(h.platform, "walk_inbox", lambda _since, _report=None: iter([record]))

    assert h.sync(push=False).set_aside == 1

    with h.app.db.session() as session:
        stored = [row.reason for row in session.exec(select(SetAsideRecord))]
    texts = stored + [event.message for event in h.events("complaint.set_aside")]
    assert texts and all("refused" in t and "0812" not in t and "budi@" not in t for t in texts)
