"""Review of issue 5, personal data: masking edge cases and speed, log lines of any value, the server's
reason phrase, one place where events are made, confidentiality under wrong flags, and files that are
no files."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from lapor_sync.adapters.national import classify
from lapor_sync.config.files import read_toml
from lapor_sync.config.sources import read_secret_file
from lapor_sync.domain.complaint import MalformedRecord
from lapor_sync.domain.errors import ConfigurationError, ItemRejectedError
from lapor_sync.domain.personal_data import EMAIL_MASK, NIK_MASK, PHONE_MASK, mask_personal_data
from lapor_sync.simulator.catalog import category_id
from lapor_sync.storage.models import SetAsideRecord
from tests.support.e2e import DINSOS, Harness

SOSIAL = category_id("Sosial dan Kesejahteraan")
PHONE, EMAIL = "0812-3456-7890", "budi.santoso@gmail.com"  # fictitious
REPO = Path(__file__).resolve().parents[1]

# -- masking: what slipped through, and what was wrongly masked ------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("hp081234567890", f"hp{PHONE_MASK}"),  # a label written without a space
        ("WA0812-3456-7890", f"WA{PHONE_MASK}"),
        ("Telp0536-3221234", f"Telp{PHONE_MASK}"),
        ("+62 (812) 3456-7890", PHONE_MASK),
        ("0812-3456-7890-Budi", f"{PHONE_MASK}-Budi"),
        ("nama[at]gmail.com", EMAIL_MASK),
        ("nama (at) gmail (dot) com", EMAIL_MASK),
        ("Nama[AT]Dinkes[DOT]go[DOT]id", EMAIL_MASK),
        ("627103 120390 0001", NIK_MASK),  # region, birth date, serial
    ],
)
def test_personal_data_in_common_written_forms_is_masked(text: str, masked: str) -> None:
    assert mask_personal_data(text) == masked
    assert mask_personal_data(masked) == masked


@pytest.mark.parametrize(
    "text",
    [
        "took 0.0812345678 s",
        "took 0.023456789123 s",
        "ratio 0,0812345678",  # decimals of durations
        "62.89.237.219",
        "from 62.81.123.219:45941",  # IP addresses (62.8x is no mobile number)
        "request 08172372-3035-efd3-068e-8089f0fceb3b",  # a UUID whose first groups look like a phone
        "sha256 600b4cdf20cc06a7b5a5cca5f7464296861815519af6d8a14604201b13965ab8",  # 16 digits inside
        "fingerprint 3d34f102d1708fc5edd3111144f78764b4d7b745cb5450815780545495df1e68",
        "012345678 ns",
        "id 0123456789",  # no Indonesian number starts 01
    ],
)
def test_numbers_it_staff_need_are_not_taken_for_personal_data(text: str) -> None:
    assert mask_personal_data(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "1" * 70_000,
        "0" * 70_000,
        "a" * 70_000,
        "a." * 35_000,
        "a-" * 35_000,
        "0812-" * 14_000,
        "+62" * 23_333,
        "@" + "a" * 70_000,
        "a" * 70_000 + "@",
        "x@" + "a.1" * 23_333,
        "a [at] " * 10_000,
    ],
)
def test_masking_a_long_hostile_text_takes_linear_time(text: str) -> None:
    # Each took 7 to 20 s when the e-mail pattern could start anywhere inside a run (quadratic);
    # now about 0.01 s. A server's error message is masked whole before it is cut.
    started = time.perf_counter()
    mask_personal_data(text)
    assert time.perf_counter() - started < 1.0


# -- log lines: every value, as printed -------------------------------------------------------------


@dataclass
class _Contact:
    phone: str


def test_objects_in_a_log_lines_extra_fields_are_masked_as_printed(log_lines: Callable[[], str]) -> None:
    logging.getLogger("lapor_sync.test").warning(
        "refused",
        extra={"error": ValueError(f"pelapor {PHONE}"), "contact": _Contact(PHONE), "emails": {EMAIL}, "count": 2},
    )

    written = log_lines()
    line = json.loads(written)
    assert line["error"] == f"ValueError: pelapor {PHONE_MASK}" and line["contact"] == {"phone": PHONE_MASK}
    assert EMAIL_MASK in line["emails"] and line["count"] == 2
    assert PHONE not in written and EMAIL not in written


# -- the server's words in the status line ---------------------------------------------------------


def test_a_reason_phrase_is_masked_and_stripped_of_credentials_like_a_message() -> None:
    request = httpx.Request("GET", "https://splp.test/lapor/3.0.0/complaints/7/complaint")
    response = httpx.Response(
        422,
        request=request,
        content=b"<html>refused</html>",
        extensions={"reason_phrase": f"Pelapor {PHONE} {EMAIL} key sim-api-key-1234".encode()},
    )

    error = classify.error_for_status(
        response, response.content, write=False, now=datetime.now(UTC), credentials=["sim-api-key-1234"]
    )

    assert isinstance(error, ItemRejectedError)
    assert str(error) == f"HTTP 422: Pelapor {PHONE_MASK} {EMAIL_MASK} key ***"


@pytest.mark.e2e
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


# -- one place where events are made ---------------------------------------------------------------


def test_sync_events_are_made_only_by_the_journal() -> None:
    # The journal redacts every message; a SyncEvent built anywhere else would skip that.
    makers = sorted(
        str(path.relative_to(REPO))
        for folder in ("lapor_sync", "adapters", "scheduler")
        for path in (REPO / folder).rglob("*.py")
        if re.search(r"(?<!class )\bSyncEvent\(", path.read_text(encoding="utf-8"))
    )
    assert makers == ["lapor_sync/sync/journal.py"]


# -- confidentiality under a flag that cannot be read ----------------------------------------------


@pytest.mark.e2e
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


# -- configuration files that are no files ---------------------------------------------------------


def _within(read: Callable[[], object], seconds: float = 10.0) -> object:
    """``read()`` in a daemon thread, so that a read that blocks fails the test instead of hanging it;
    returns what it returned or the ``ConfigurationError`` it raised."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(read())
        except ConfigurationError as refused:
            outcome.append(refused)

    reader = threading.Thread(target=run, daemon=True)
    reader.start()
    reader.join(seconds)
    assert outcome, f"the read did not return within {seconds} s"
    return outcome[0]


def _read_within(path: Path) -> object:
    return _within(lambda: read_toml(path)[1])


def test_a_named_pipe_nobody_writes_to_is_refused_not_waited_on(tmp_path: Path) -> None:
    pipe = tmp_path / "lapor-sync.toml"
    os.mkfifo(pipe)
    refused = _read_within(pipe)
    assert isinstance(refused, ConfigurationError)
    assert str(refused) == f"{pipe}: cannot read: a named pipe that nobody writes to"
    refused = _within(lambda: read_secret_file("LAPOR_SYNC_API_KEY_FILE", pipe))  # a container secret too
    assert str(refused) == f"LAPOR_SYNC_API_KEY_FILE: {pipe}: cannot read: a named pipe that nobody writes to"


def test_a_pipe_with_a_writer_is_read_like_a_file() -> None:
    reading, writing = os.pipe()  # what `lapor-sync -c <(...)` passes: /dev/fd/N
    os.write(writing, b"database_url = 'sqlite:///city.db'\n")
    os.close(writing)
    try:
        assert _read_within(Path(f"/dev/fd/{reading}")) == {"database_url": "sqlite:///city.db"}
    finally:
        os.close(reading)


def test_a_directory_or_a_symlink_loop_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "loop-a").symlink_to(tmp_path / "loop-b")
    (tmp_path / "loop-b").symlink_to(tmp_path / "loop-a")
    for path, why in ((tmp_path, "Is a directory"), (tmp_path / "loop-a", "Too many levels of symbolic links")):
        refused = _read_within(path)
        assert isinstance(refused, ConfigurationError) and str(refused) == f"{path}: cannot read: {why}"


def test_the_clis_error_line_masks_personal_data(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lapor_sync.cli import app as cli_app
    from lapor_sync.domain.errors import ConfigurationError

    def failing() -> None:
        raise ConfigurationError("HTTP 422: pelapor 0812-3456-7890 (budi@contoh.id) ditolak")

    monkeypatch.setattr(cli_app, "app", failing)
    with pytest.raises(SystemExit):
        cli_app.main()

    line = capsys.readouterr().err
    assert "ditolak" in line and "0812" not in line and "budi@" not in line


def test_a_set_aside_reason_is_masked_where_it_is_stored(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    # A reason built elsewhere than the wire reader (a future adapter) must not store contact data either.
    record = MalformedRecord(
        complaint_id=None, reason="inbox row refused: pelapor 0812-3456-7890 budi@contoh.id", raw={"id": "x"}
    )
    monkeypatch.setattr(h.platform, "walk_inbox", lambda _since: iter([record]))

    assert h.sync(push=False).set_aside == 1

    with h.app.db.session() as session:
        stored = [row.reason for row in session.exec(select(SetAsideRecord))]
    texts = stored + [event.message for event in h.events("complaint.set_aside")]
    assert texts and all("refused" in t and "0812" not in t and "budi@" not in t for t in texts)
