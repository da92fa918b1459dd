"""End to end, bad input: each malformed record set aside with its reason and raw payload, the rest stored, texts made valid.

The simulator serves the data; a :class:`Rewriter` between the client and the simulator breaks one
complaint on the wire. Texts are checked on SQLite and PostgreSQL (``database`` fixture), because
PostgreSQL refuses NUL in text and no driver can encode a lone surrogate.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError
from sqlmodel import select
from typer.testing import CliRunner

from lapor_sync.cli.app import app as cli_app
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.simulator.catalog import category_id
from lapor_sync.simulator.model import Reporter
from lapor_sync.storage.models import SetAsideRecord
from tests.support.e2e import DINSOS, Harness, command_env

pytestmark = pytest.mark.e2e

SOSIAL = category_id("Sosial dan Kesejahteraan")
SITI = {"name": "Siti Rahasia", "email": "siti@contoh.id", "phone": "0812-9999-0000"}
Edit = Callable[[dict[str, Any]], Any]


@dataclass
class Rewriter(httpx.BaseTransport):
    """Sits between the client and the simulator and breaks one complaint's answers.

    ``complaint`` edits its inbox rows and its detail, ``followup`` its follow-up rows, ``detail``
    the raw bytes of its detail answer. JSON is written back with ``ensure_ascii``: a lone
    surrogate travels as the escape ``"\\ud800"``, which ``json.loads`` reads back as one.
    """

    inner: httpx.BaseTransport
    complaint_id: int
    complaint: Edit | None = None
    followup: Edit | None = None
    detail: Callable[[bytes], bytes] | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Forward ``request`` and return the answer, broken as configured."""
        response = self.inner.handle_request(request)
        body = response.read()
        path = request.url.path
        if self.detail is not None and path.endswith(f"/{self.complaint_id}/complaint"):
            body = self.detail(body)
        elif self.complaint is not None or self.followup is not None:
            payload = json.loads(body)
            data = (payload.get("results") or {}).get("data")
            edit = self.followup if path.endswith("/followups") else self.complaint
            for row in data if isinstance(data, list) else [data]:
                if edit is not None and isinstance(row, dict) and row.get("complaint_id") == self.complaint_id:
                    edit(row)
            body = json.dumps(payload).encode()
        return httpx.Response(
            response.status_code,
            content=body,
            request=request,
            headers={"content-type": response.headers.get("content-type", "application/json")},
        )

    def close(self) -> None:
        """Close the transport underneath."""
        self.inner.close()


def break_on_the_wire(h: Harness, complaint_id: int, **edits: Any) -> Rewriter:
    """Put a :class:`Rewriter` for ``complaint_id`` between the client and the simulator."""
    rewriter = Rewriter(h.faults.inner, complaint_id, **edits)
    h.faults.inner = rewriter  # type: ignore[assignment]
    return rewriter


def repair(h: Harness) -> None:
    """The platform repairs the record: answers reach the client unchanged again."""
    assert isinstance(h.faults.inner, Rewriter)
    h.faults.inner = h.faults.inner.inner  # type: ignore[assignment]


def put(field: str, value: object) -> Edit:
    """An edit that sets ``field`` to ``value``."""
    return lambda row: row.__setitem__(field, value)


def drop(field: str) -> Edit:
    """An edit that removes ``field``."""
    return lambda row: row.pop(field)


def both(*edits: Edit) -> Edit:
    """An edit made of ``edits`` in order."""
    return lambda row: [edit(row) for edit in edits]


@pytest.fixture
def cli(h: Harness, monkeypatch: pytest.MonkeyPatch, clean_env: None) -> Callable[..., Any]:
    """Run ``lapor-sync ARGS --json`` against the harness and return the parsed output."""
    for name, value in command_env(h.app.settings.database_url, h.base_url, lease_wait_seconds=0).items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> Any:
        result = CliRunner().invoke(cli_app, [*args, "--json"])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return json.loads(result.stdout)

    return run


def _set_aside(h: Harness) -> list[SetAsideRecord]:
    with h.app.db.session() as session:
        return list(session.exec(select(SetAsideRecord).order_by(SetAsideRecord.id)))


# -- malformed records are set aside ---------------------------------------------------------------


@dataclass(frozen=True)
class Malformed:
    """One kind of malformed record: how it is broken on the wire and the reason it must be set aside with."""

    complaint: Edit | None
    followup: Edit | None
    reason: str
    has_id: bool = True  # False: the id itself is unreadable, so nothing can ask for the record again


MALFORMED = {
    "missing_status_code": Malformed(drop("status_code"), None, "data.status_code: Field required"),
    "status_code_abc": Malformed(
        put("status_code", "abc"), None, "data.status_code: expected a whole number from 0 to 2147483647"
    ),
    "complaint_id_x": Malformed(
        put("complaint_id", "x"), None, "inbox row complaint_id: expected a whole number", has_id=False
    ),
    "created_at_31_february": Malformed(
        put("created_at", "31-02-2024 10:00:00"), None, "data.created_at: not a real date and time"
    ),
    "updated_at_99_99_9999": Malformed(
        put("updated_at", "99-99-9999"), None, "inbox row updated_at: expected a WIB timestamp"
    ),
    "followup_created_at_99_99_9999": Malformed(
        None, put("created_at", "99-99-9999 10:00:00"), "followups.0.created_at: not a real date and time"
    ),
    "category_id_beyond_postgres_integer": Malformed(
        put("category_id", 2**40), None, "data.category_id: expected a whole number from 0 to 2147483647"
    ),
    "tracking_id_wider_than_its_column": Malformed(
        put("tracking_id", "9" * 40), None, "data.tracking_id: expected at most 32 characters"
    ),
    "status_code_abc_with_nul_and_lone_surrogate": Malformed(
        both(put("status_code", "abc"), put("content", "Isi\x00 \ud800laporan")), None, "data.status_code"
    ),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_a_malformed_record_is_set_aside_with_its_reason_and_the_rest_of_its_page_is_stored(
    h: Harness, kind: str
) -> None:
    malformed = MALFORMED[kind]
    first = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL).complaint_id
    bad = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL, reporter=Reporter(**SITI)).complaint_id
    last = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL).complaint_id
    h.world.add_followup(bad, DINSOS, "Sedang kami tangani.")
    break_on_the_wire(h, bad, complaint=malformed.complaint, followup=malformed.followup)

    run = h.sync()

    assert (run.outcome, run.created, run.set_aside) == ("ok", 2, 1)  # one page: the rows after it go on
    assert [case.complaint_id for case in h.cases()] == [first, last]
    [record] = _set_aside(h)
    assert record.reason.startswith(malformed.reason) and record.resolved_at is None
    assert record.complaint_id == (bad if malformed.has_id else None)
    assert record.raw.startswith(("{", "[")) and not any(value in record.raw for value in SITI.values())
    [event] = h.events("complaint.set_aside")
    assert malformed.reason in event.message and event.level == "warning"


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_every_malformed_kind_is_set_aside_on_postgres_and_the_rest_of_the_page_stored(on_db: Harness) -> None:
    h = on_db
    bad: dict[int | None, str] = {}
    for malformed in MALFORMED.values():
        complaint_id = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL).complaint_id
        h.world.add_followup(complaint_id, DINSOS, "Sedang kami tangani.")
        break_on_the_wire(h, complaint_id, complaint=malformed.complaint, followup=malformed.followup)
        bad[complaint_id if malformed.has_id else None] = malformed.reason
    good = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL).complaint_id

    run = h.sync()

    assert (run.outcome, run.created, run.set_aside) == ("ok", 1, len(MALFORMED))
    assert [case.complaint_id for case in h.cases()] == [good]
    assert {r.complaint_id: r.reason.startswith(bad[r.complaint_id]) for r in _set_aside(h)} == dict.fromkeys(bad, True)


@pytest.mark.parametrize("kind", ["status_code_abc", "followup_created_at_99_99_9999", "complaint_id_x"])
def test_a_set_aside_record_is_shown_by_log_counted_by_status_and_retried_by_resync(
    h: Harness, cli: Callable[..., Any], kind: str
) -> None:
    malformed = MALFORMED[kind]
    bad = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL).complaint_id
    h.world.add_followup(bad, DINSOS, "Sedang kami tangani.")
    break_on_the_wire(h, bad, complaint=malformed.complaint, followup=malformed.followup)
    assert h.sync().set_aside == 1

    [event] = cli("log", "--kind", "complaint.set_aside")
    assert event["kind"] == "complaint.set_aside" and malformed.reason in event["message"]
    assert event["complaint_id"] == (bad if malformed.has_id else None)
    assert cli("status")["set_aside_unresolved"] == 1
    [listed] = cli("set-aside", "--show-raw")
    assert malformed.reason in listed["reason"] and listed["raw"] is not None and listed["resolved_at"] is None
    repair(h)

    resync = cli("resync", "--set-aside")

    if malformed.has_id:
        [change] = resync["changes"]
        assert (change["complaint_id"], change["outcome"]) == (bad, "created")
        assert cli("status")["set_aside_unresolved"] == 0
        assert len(h.thread(bad)) == 1  # the follow-up came with the complaint, none lost
    else:  # no id to ask LAPOR! for: it stays listed until the platform sends the row again, readable
        assert resync["changes"] == []
        assert cli("status")["set_aside_unresolved"] == 1


def test_a_malformed_follow_up_sets_its_whole_complaint_aside_and_keeps_the_stored_thread(h: Harness) -> None:
    complaint_id = h.new_case()
    h.world.add_followup(complaint_id, DINSOS, "Tindak lanjut pertama.")
    h.advance(timedelta(minutes=10))
    assert h.sync().updated == 1 and len(h.thread(complaint_id)) == 1
    h.world.add_followup(complaint_id, DINSOS, "Tindak lanjut kedua.")
    h.advance(timedelta(minutes=10))
    break_on_the_wire(
        h,
        complaint_id,
        followup=lambda row: row["content"] == "Tindak lanjut kedua." and row.__setitem__("user_type", "robot"),
    )

    run = h.sync()

    # The complaint is not stored with a hole in its thread: it waits, visibly, whole.
    assert (run.set_aside, run.updated) == (1, 0)
    assert [entry.content for entry in h.thread(complaint_id)] == ["Tindak lanjut pertama."]
    assert "user_type" in _set_aside(h)[0].reason
    repair(h)
    h.advance(timedelta(hours=2))
    assert h.sync().updated == 1
    assert [entry.content for entry in h.thread(complaint_id)] == ["Tindak lanjut pertama.", "Tindak lanjut kedua."]
    assert _set_aside(h)[0].resolved_at is not None


# -- texts are stored as received, made valid ------------------------------------------------------


def test_nul_bytes_in_title_content_and_follow_up_content_are_stored_without_them(on_db: Harness) -> None:
    h = on_db
    if h.app.db.url.startswith("postgresql"):  # the failure this guards: PostgreSQL refuses NUL in text
        with pytest.raises(DataError, match="NUL"), h.app.db.engine.connect() as conn:
            conn.execute(text("SELECT CAST(:t AS text)"), {"t": "a\x00b"})
    complaint_id = h.add_complaint(
        disposition_id=DINSOS,
        category_id=SOSIAL,
        title="Jalan\x00 rusak",
        content="Mohon\x00 diperbaiki\x00",
        reporter=Reporter(**SITI),
    ).complaint_id
    h.world.add_followup(complaint_id, DINSOS, "Sedang kami tangani.")
    break_on_the_wire(
        h,
        complaint_id,
        complaint=both(put("category_name", "Sosial\x00"), put("location_name", "Jekan\x00 Raya")),
        followup=put("content", "Sedang\x00 kami tangani."),
    )

    run = h.sync()

    assert (run.created, run.set_aside) == (1, 0)
    case = h.case(complaint_id)
    assert (case.title, case.content, case.content_length) == ("Jalan rusak", "Mohon diperbaiki", 18)
    assert (case.category_name, case.location_name) == ("Sosial", "Jekan Raya")
    [entry] = h.thread(complaint_id)
    assert (entry.content, entry.content_length) == ("Sedang kami tangani.", 21)


def test_lone_surrogates_in_title_content_and_follow_up_content_are_stored_without_them(on_db: Harness) -> None:
    h = on_db
    with pytest.raises(UnicodeEncodeError), h.app.db.engine.connect() as conn:  # the failure this guards
        conn.execute(text("SELECT :t"), {"t": "a\ud800"})
    complaint_id = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL).complaint_id
    h.world.add_followup(complaint_id, DINSOS, "Balasan.")
    break_on_the_wire(
        h,
        complaint_id,
        complaint=both(
            put("title", "Banjir \ud800"),
            put("content", "Air \udfffnaik 😀"),
            put("disposition_name", "Dinas\ud83d Sosial"),
            put("user", {"name": "Siti\udc00", "email": None, "phone": None}),
        ),
        followup=put("content", "Balasan \ud800."),
    )

    run = h.sync()

    assert (run.created, run.set_aside) == (1, 0)
    case = h.case(complaint_id)
    assert (case.title, case.content, case.content_length) == ("Banjir ", "Air naik 😀", 11)
    assert (case.disposition_name, case.reporter_name) == ("Dinas Sosial", "Siti")
    [entry] = h.thread(complaint_id)
    assert (entry.content, entry.content_length) == ("Balasan .", 10)


def test_a_70000_character_content_is_stored_whole_with_its_length(on_db: Harness) -> None:
    h = on_db
    content = ("Saluran air tersumbat di Jl. G. Obos 😟 <br>\r\n" * 1600)[:70_000]
    complaint_id = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL, content=content).complaint_id

    assert (h.sync().created, h.case(complaint_id).content_length) == (1, 70_000)

    assert h.case(complaint_id).content == content


def test_emoji_and_html_are_stored_as_received_not_set_aside(on_db: Harness) -> None:
    h = on_db
    title, content = "Lampu mati 💡🇮🇩", "<p>Sudah <b>3 malam</b> gelap 👨‍👩‍👧 &amp; rawan</p><script>x()</script>"
    complaint_id = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL, title=title, content=content).complaint_id
    h.world.add_followup(complaint_id, DINSOS, "Dicek.")
    break_on_the_wire(h, complaint_id, followup=put("content", "<i>Terima kasih</i> 🙏"))

    run = h.sync()

    assert (run.created, run.set_aside) == (1, 0)
    case = h.case(complaint_id)
    assert (case.title, case.content, case.content_length) == (title, content, len(content))
    assert [entry.content for entry in h.thread(complaint_id)] == ["<i>Terima kasih</i> 🙏"]


def test_a_detail_with_bytes_that_are_not_utf8_is_stored_not_failing_every_run(on_db: Harness) -> None:
    h = on_db
    complaint_id = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL, content="Kafe ramai").complaint_id
    break_on_the_wire(h, complaint_id, detail=lambda body: body.replace(b"Kafe", b"Caf\xe9"))  # Latin-1

    run = h.sync()

    assert (run.outcome, run.created, run.set_aside) == ("ok", 1, 0)
    assert h.case(complaint_id).content == "Caf\ufffd ramai"


def test_a_staff_follow_up_with_nul_or_a_lone_surrogate_is_stored_and_sent_without_them(on_db: Harness) -> None:
    h = on_db
    complaint_id = h.new_case()
    item = h.act(complaint_id, AgencyAction.FOLLOWUP, content="Sudah\x00 diperbaiki \udcff")  # \udcff: a stray
    # byte from a terminal, as Python's surrogateescape decodes it

    assert h.sync(pull=False).pushed == 1

    [entry] = h.thread(complaint_id)
    assert (entry.content, entry.content_length) == ("Sudah diperbaiki ", 19)
    assert len(h.national_followups(complaint_id, item.idempotency_key)) == 1


# -- answers that are not the protocol are retried, never set aside ---------------------------------


@pytest.mark.parametrize(
    "body", [b"<html><body>502 Bad Gateway</body></html>", b"", b'{"results": null, "message": "Data not found"}']
)
def test_a_detail_answered_with_html_empty_or_null_results_is_retried_not_set_aside(h: Harness, body: bytes) -> None:
    complaint_id = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL).complaint_id
    answers = [body, body]
    break_on_the_wire(h, complaint_id, detail=lambda good: answers.pop() if answers else good)

    run = h.sync()

    assert (run.outcome, run.created, run.set_aside) == ("ok", 1, 0)
    assert answers == [] and _set_aside(h) == []


def test_a_detail_that_stays_html_fails_the_run_keeps_the_cursor_and_sets_nothing_aside(h: Harness) -> None:
    h.new_case()
    mark = h.cursor()
    h.advance(timedelta(minutes=20))
    complaint_id = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL).complaint_id
    break_on_the_wire(h, complaint_id, detail=lambda _: b"<html>Bad Gateway</html>")

    run = h.sync()

    assert run.outcome == "failed" and "protocol error" in (run.error or "")
    assert h.cursor() == mark and _set_aside(h) == []


# -- a bad date that would lose data ---------------------------------------------------------------


def test_an_updated_at_far_in_the_future_does_not_carry_the_cursor_past_later_complaints(h: Harness) -> None:
    poisoned = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL).complaint_id
    break_on_the_wire(h, poisoned, complaint=put("updated_at", "31-12-2099 23:59:59"))
    h.sync()
    repair(h)
    h.advance(timedelta(minutes=20))
    later = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL).complaint_id
    h.advance(timedelta(minutes=20))

    h.sync()

    assert [case.complaint_id for case in h.cases()] == [poisoned, later]


def test_review_a_set_aside_anonymous_complaint_keeps_no_reporter_identity(h: Harness) -> None:
    anonymous = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL, is_anonymous=True)
    named = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL, reporter=Reporter(**SITI))

    def leaky_and_broken(complaint: dict[str, Any]) -> None:
        complaint["user"] = SITI  # the wire carries an identity ...
        complaint["is_secret"] = "maybe"  # ... on a record that cannot be read

    h.faults.rewrite = leaky_and_broken
    run = h.sync()

    assert run.set_aside == 2
    with h.app.db.session() as session:
        raws = [r.raw for r in session.exec(select(SetAsideRecord))]
    assert len(raws) == 2 and all("is_secret" in json.dumps(raw) for raw in raws)
    assert not any(value in raw for raw in raws for value in SITI.values())
    events = h.events("complaint.set_aside")
    assert {anonymous.complaint_id, named.complaint_id} == {e.complaint_id for e in events}
    assert all(e.message.endswith("data.is_secret: expected 0 or 1") for e in events)  # no pydantic jargon


def test_review_a_malformed_inbox_row_is_set_aside_and_the_rest_stored(h: Harness) -> None:
    good = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)
    bad = h.add_complaint(disposition_id=DINSOS, category_id=SOSIAL)

    def break_row(complaint: dict[str, Any]) -> None:
        if complaint["complaint_id"] == bad.complaint_id:
            complaint["updated_at"] = "2024-01-02T09:00:00"  # ISO, not the contract's format

    h.faults.rewrite = break_row
    run = h.sync()

    assert (run.outcome, run.created, run.set_aside) == ("ok", 1, 1)
    assert [c.complaint_id for c in h.cases()] == [good.complaint_id]
    (event,) = h.events("complaint.set_aside")
    assert event.complaint_id == bad.complaint_id and "updated_at" in event.message
