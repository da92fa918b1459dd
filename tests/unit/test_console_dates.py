"""The console's dates: Babel's ``dd MMMM yyyy`` (and ``HH.mm`` / ``HH:mm``) in WIB, in each language."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from babel.dates import format_date, format_datetime

from lapor_sync.domain.timezones import WIB
from lapor_sync.web.i18n import Language, date_time, long_date


def test_dates_read_as_babel_writes_them_in_every_month_and_language() -> None:
    # Every month, at times on both sides of the WIB midnight (17:00 UTC) and of the year's end.
    instants = [
        datetime(2024, 1, 1, 16, 59, tzinfo=UTC) + timedelta(days=31 * n, minutes=m)
        for n in range(13)
        for m in (0, 1, 61)
    ]
    for language in Language:
        clock = "HH.mm" if language is Language.ID else "HH:mm"
        for instant in instants:
            local = instant.astimezone(WIB)
            assert (
                date_time(instant, language)
                == f"{format_datetime(local, f'dd MMMM yyyy {clock}', locale=language.value)} WIB"
            )
            assert long_date(instant, language) == format_date(local.date(), "dd MMMM yyyy", locale=language.value)


def test_the_issues_examples() -> None:
    assert date_time(datetime(2026, 12, 7, 2, 15, tzinfo=UTC), Language.ID) == "07 Desember 2026 09.15 WIB"
    assert date_time(datetime(2026, 12, 7, 2, 15, tzinfo=UTC), Language.EN) == "07 December 2026 09:15 WIB"
    assert long_date(date(2026, 8, 17), Language.ID) == "17 Agustus 2026"
    assert date_time(None, Language.ID) == long_date(None, Language.EN) == "-"
