"""Masking personal data and withholding confidential echoes: the rules (and their speed on hostile texts),
the service's log lines, and the one place where sync events are made."""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from lapor_sync.domain.personal_data import EMAIL_MASK, NIK_MASK, PHONE_MASK, _mask, mask_personal_data
from lapor_sync.runtime.logs import configure_logging
from lapor_sync.runtime.redaction import WITHHELD, redact, redact_value, withholding
from tests.support.paths import REPO_ROOT

# Fictitious personal data.
PHONE, EMAIL, NIK = "0812-3456-7890", "budi.santoso+lapor@mail.pemkot.palangkaraya.go.id", "6271031203900001"


# -- the rule, both ways ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # phone numbers: +62, 62 (mobile), 0; spaces, dots, dashes; 9 to 13 digits
        ("0812-3456-7890", PHONE_MASK),
        ("+62 812 3456 7890", PHONE_MASK),
        ("+62-812-3456-7890", PHONE_MASK),
        ("+6281234567890", PHONE_MASK),
        ("628123456789", PHONE_MASK),
        ("62 812 3456 7890", PHONE_MASK),
        ("0812.3456.7890", PHONE_MASK),
        ("081234567", PHONE_MASK),
        ("0812345678901", PHONE_MASK),
        ("(0536) 322-1234", PHONE_MASK),
        ("0536-3221234", PHONE_MASK),
        ("hubungi saya di 0812-3456-7890.", f"hubungi saya di {PHONE_MASK}."),
        ("(0812-3456-7890)", f"({PHONE_MASK})"),
        ("telp:081234567890, wa: +62 813 1111 2222;", f"telp:{PHONE_MASK}, wa: {PHONE_MASK};"),
        ('"0812 3456 7890"', f'"{PHONE_MASK}"'),
        # e-mail addresses: subdomains, plus-addressing, next to punctuation
        ("siti@contoh.id", EMAIL_MASK),
        (EMAIL, EMAIL_MASK),
        ("<siti_r@dinkes.palangkaraya.go.id>,", f"<{EMAIL_MASK}>,"),
        ("mailto:siti@contoh.id", f"mailto:{EMAIL_MASK}"),
        ("081234567890@gmail.com", EMAIL_MASK),  # a phone number as the local part is one e-mail address
        # NIK: 16 digits, alone or in its printed groups
        ("NIK saya 6271031203900001", f"NIK saya {NIK_MASK}"),
        ("NIK:6271031203900001.", f"NIK:{NIK_MASK}."),
        ("6271 0312 0390 0001", NIK_MASK),
        ("6271-0312-0390-0001", NIK_MASK),
        ("62.71.03.120390.0001", NIK_MASK),
        # all three in one message
        (f"Pelapor {PHONE} / {EMAIL} / NIK {NIK}", f"Pelapor {PHONE_MASK} / {EMAIL_MASK} / NIK {NIK_MASK}"),
    ],
)
def test_personal_data_is_masked(text: str, masked: str) -> None:
    assert mask_personal_data(text) == masked
    assert mask_personal_data(masked) == masked  # masking twice changes nothing


@pytest.mark.parametrize(
    "text",
    [
        "Complaint #2314931 received and assigned to DINSOS.",  # tracking id
        "Complaint 1916449 set aside: data.status_code: expected a whole number",  # complaint id
        "dispositioned to institution 6271, sub-unit 627104",  # institution ids
        "2024-10-31T09:30:00+07:00",
        "2024-10-31 16:30 WIB",
        "31-10-2024 16:30",
        "01-10-2024 16:30:00",
        "08-01-2024 10:00:00",
        "2024-10-31T02:30:00.123+00:00",  # dates and timestamps in every format written
        "HTTP 422: complaint is closed",
        "HTTP 503: Service Unavailable",
        "Outbox #12 (followup) for complaint #2314931: delivered.",
        "[LS-3f9a0c12bd] Sudah kami tindak lanjuti.",
        "[LS-0812345678] all digits",  # reference tokens
        "next try in 3600 s.",
        "took 0.123456789 s",
        "1,983 handled / 1,924 completed",  # durations, counts
        "epoch 1730341800",
        "17 digits 12345678901234567",
        "14 digits 08123456789012",  # not a NIK, not a phone
        "Rp 0.812.345.678",
        "postgresql://postgres@127.0.0.1:5432/test",
        "0 created, 0 updated, 12 pushed",
    ],
)
def test_what_it_staff_need_is_kept(text: str) -> None:
    assert mask_personal_data(text) == text


def test_the_quick_search_skips_no_text_the_masking_would_change() -> None:
    """A seeded fuzz over digits, separators and e-mail signs: the shortcut never changes the result."""
    rng = random.Random(2024)
    signs = [" ", ".", "-", "(", ")", "+", "@", "[at]", "(AT)", " (dot) ", "a", "hp", "x.id"]
    phone_parts = ["62", "08", "0812", "3456", "7890", "322", "(0536)", "+62 (812)", ") -", "6271 0312"]
    pieces = [*"0123456789", *signs, *phone_parts]
    changed = 0
    for _ in range(20_000):
        text = "".join(rng.choices(pieces, k=rng.randint(1, 40)))
        masked = _mask(text)
        assert mask_personal_data(text) == masked, text
        changed += masked != text
    assert changed > 1_000  # the fuzz does reach texts with personal data


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


# -- withholding echoes ----------------------------------------------------------------------------

SECRET = "Petugas loket puskesmas meminta uang tambahan Rp 50.000 setiap pasien."


def test_an_echo_of_a_withheld_text_is_cut_out_whole_or_in_part() -> None:
    with withholding(SECRET, None, ""):
        assert redact(f"HTTP 422: content '{SECRET}' invalid") == f"HTTP 422: content '{WITHHELD}' invalid"
        assert redact(f"content '{SECRET[:30]}...' too long") == f"content '{WITHHELD}...' too long"  # cut short
        html = "<p>Petugas loket puskesmas</p> meminta <b>uang tambahan Rp 50.000</b>"
        assert "puskesmas" not in redact(html) and "tambahan" not in redact(html)  # tags stripped by the server
        assert redact("HTTP 500: Server Error") == "HTTP 500: Server Error"
    assert redact(f"content '{SECRET}'") == f"content '{SECRET}'"  # only inside the block


def test_a_short_withheld_text_is_cut_out_only_whole_and_a_tiny_one_not_at_all() -> None:
    with withholding("Selesai.", "OK"):
        assert redact("status 'Selesai.' refused") == f"status '{WITHHELD}' refused"
        assert redact("Selesai refused, OK") == "Selesai refused, OK"


def test_a_withheld_text_quoting_the_placeholder_still_ends() -> None:
    with withholding(f"{WITHHELD} {WITHHELD} isi rahasia"):
        redacted = redact(f"echo: {WITHHELD} {WITHHELD} isi rahasia")
    # One placeholder for the whole shared stretch (the space before it is shared too).
    assert redacted.startswith("echo:") and redacted.count(WITHHELD) == 1 and "rahasia" not in redacted


def test_redaction_masks_nested_values_and_leaves_other_values_alone() -> None:
    assert redact_value({"a": [PHONE, 3, None], "b": {"c": EMAIL}, "d": 1.5}) == {
        "a": [PHONE_MASK, 3, None],
        "b": {"c": EMAIL_MASK},
        "d": 1.5,
    }


# -- log lines -------------------------------------------------------------------------------------


def test_log_lines_mask_the_message_extra_fields_and_tracebacks(log_lines: Callable[[], str]) -> None:
    log = logging.getLogger("lapor_sync.test")
    log.info("reply from %s", PHONE, extra={"reporter": {"email": EMAIL, "ids": [NIK, 7]}, "count": 2})
    try:
        raise ValueError(f"cannot store NIK {NIK}")
    except ValueError:
        log.exception("failed for %s", EMAIL)
    with withholding(SECRET):
        log.warning("HTTP 422: '%s'", SECRET)

    written = log_lines()
    first, second, third = (json.loads(line) for line in written.splitlines())
    assert first["message"] == f"reply from {PHONE_MASK}"
    assert first["reporter"] == {"email": EMAIL_MASK, "ids": [NIK_MASK, 7]} and first["count"] == 2
    assert second["message"] == f"failed for {EMAIL_MASK}" and f"cannot store NIK {NIK_MASK}" in second["exc_info"]
    assert third["message"] == f"HTTP 422: '{WITHHELD}'"
    assert not any(value in written for value in (PHONE, EMAIL, NIK, SECRET[:20]))


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


def test_service_log_lines_carry_their_time_in_utc_with_an_offset(capsys) -> None:
    # A log collector must not guess the host's time zone.
    root = logging.getLogger("lapor_sync")
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging(to_stdout=True)
        logging.getLogger("lapor_sync.worker").warning("hello")
    finally:
        root.handlers[:], root.level = handlers, level
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    assert line["message"] == "hello"
    assert line["time"].endswith("+00:00") and "T" in line["time"]


# -- one place where events are made ---------------------------------------------------------------


def test_sync_events_are_made_only_by_the_journal() -> None:
    # The journal redacts every message; a SyncEvent built anywhere else would skip that.
    makers = sorted(
        str(path.relative_to(REPO_ROOT))
        for folder in ("lapor_sync", "adapters", "scheduler")
        for path in (REPO_ROOT / folder).rglob("*.py")
        if re.search(r"(?<!class )\bSyncEvent\(", path.read_text(encoding="utf-8"))
    )
    assert makers == ["lapor_sync/sync/journal.py"]
