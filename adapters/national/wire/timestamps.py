"""WIB timestamps on the wire: ``"DD-MM-YYYY HH:MM:SS"`` and ``"DD-MM-YYYY"`` (CONTRACT §2).

The platform sends local WIB (Asia/Jakarta, UTC+7) time without an offset; these functions are the
only place where such a string becomes an aware UTC datetime, or the other way round.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")
_DATETIME_RE = re.compile(r"\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2}")
_DATE_RE = re.compile(r"\d{2}-\d{2}-\d{4}")


def parse_wib_datetime(text: object) -> datetime:
    """Read a ``"DD-MM-YYYY HH:MM:SS"`` WIB timestamp (CONTRACT §2) as an aware UTC datetime.

    Raises:
        ValueError: when ``text`` is not exactly in that format (the message never quotes it).
    """
    if not isinstance(text, str) or not _DATETIME_RE.fullmatch(text):
        raise ValueError("expected a WIB timestamp 'DD-MM-YYYY HH:MM:SS'")
    local = datetime.strptime(text, "%d-%m-%Y %H:%M:%S")  # noqa: DTZ007 - the zone is set next
    return local.replace(tzinfo=WIB).astimezone(UTC)


def parse_wib_date(text: object) -> date:
    """Read a ``"DD-MM-YYYY"`` calendar date (CONTRACT §2).

    Raises:
        ValueError: when ``text`` is not exactly in that format.
    """
    if not isinstance(text, str) or not _DATE_RE.fullmatch(text):
        raise ValueError("expected a date 'DD-MM-YYYY'")
    return datetime.strptime(text, "%d-%m-%Y").date()  # noqa: DTZ007 - a calendar date has no zone


def format_wib_datetime(instant: datetime) -> str:
    """Write an aware datetime as a WIB ``"DD-MM-YYYY HH:MM:SS"`` query value (CONTRACT §2).

    Sub-second parts are dropped (rounded down), which keeps an inclusive lower bound inclusive.

    Raises:
        ValueError: on a naive datetime.
    """
    if instant.tzinfo is None:
        raise ValueError("format_wib_datetime needs an aware datetime")
    return instant.astimezone(WIB).strftime("%d-%m-%Y %H:%M:%S")
