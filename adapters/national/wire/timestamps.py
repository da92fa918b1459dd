"""WIB timestamps on the wire: ``"DD-MM-YYYY HH:MM:SS"`` and ``"DD-MM-YYYY"`` (CONTRACT §2).

The platform sends local WIB (Asia/Jakarta, UTC+7) time without an offset; these functions are the
only place where such a string becomes an aware UTC datetime, or the other way round.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from lapor_sync.domain.timezones import WIB

# ASCII: no other scripts' digits. Groups: day, month, year, hour, minute, second.
_DATETIME_RE = re.compile(r"(\d{2})-(\d{2})-(\d{4}) (\d{2}):(\d{2}):(\d{2})", re.ASCII)
_DATE_RE = re.compile(r"(\d{2})-(\d{2})-(\d{4})", re.ASCII)


def parse_wib_datetime(text: object) -> datetime:
    """Read a ``"DD-MM-YYYY HH:MM:SS"`` WIB timestamp (CONTRACT §2) as an aware UTC datetime.

    Raises:
        ValueError: when ``text`` is not exactly in that format or not a real instant (such as
            ``31-02-2024 10:00:00``); the message never quotes it.
    """
    match = _DATETIME_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError("expected a WIB timestamp 'DD-MM-YYYY HH:MM:SS'")
    day, month, year, hour, minute, second = map(int, match.groups())
    try:
        # Built from the matched fields, not by strptime: every row carries several timestamps, and
        # strptime parses its format anew each time (a few percent of a backfill's CPU).
        return datetime(year, month, day, hour, minute, second, tzinfo=WIB).astimezone(UTC)
    except (ValueError, OverflowError):  # 31-02, 99-99, hour 25; or 01-01-0001 00:00 WIB, before year 1 UTC
        raise ValueError("not a real date and time (expected 'DD-MM-YYYY HH:MM:SS')") from None


def parse_wib_date(text: object) -> date:
    """Read a ``"DD-MM-YYYY"`` calendar date (CONTRACT §2).

    Raises:
        ValueError: when ``text`` is not exactly in that format or not a real date; the message
            never quotes it.
    """
    match = _DATE_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError("expected a date 'DD-MM-YYYY'")
    day, month, year = map(int, match.groups())
    try:
        return date(year, month, day)  # from the matched fields, as ``parse_wib_datetime``: no strptime
    except ValueError:  # 31-02, 00-00-0000
        raise ValueError("not a real date (expected 'DD-MM-YYYY')") from None


def format_wib_datetime(instant: datetime) -> str:
    """Write an aware datetime as a WIB ``"DD-MM-YYYY HH:MM:SS"`` query value (CONTRACT §2).

    Sub-second parts are dropped (rounded down), which keeps an inclusive lower bound inclusive.

    Raises:
        ValueError: on a naive datetime.
    """
    if instant.tzinfo is None:
        raise ValueError("format_wib_datetime needs an aware datetime")
    return instant.astimezone(WIB).strftime("%d-%m-%Y %H:%M:%S")
