"""What the console's filter forms send, read the way people mean it: blank is "any", days are WIB days."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated

from pydantic import BeforeValidator

from lapor_sync.domain.timezones import WIB


def _blank_is_none(value: object) -> object:
    return None if value == "" else value


OptionalDay = Annotated[date | None, BeforeValidator(_blank_is_none)]
"""A day from a filter form's date field: a browser sends the empty field (``since=``) for "any", read as ``None``."""


def optional_text(value: str | None) -> str | None:
    """``value`` stripped, or ``None`` when blank (an empty filter field means "any")."""
    return (value or "").strip() or None


def day_start(day: date | None) -> datetime | None:
    """The first instant of WIB ``day`` (aware), or ``None``."""
    return None if day is None else datetime.combine(day, time(0), WIB)


def day_end(day: date | None) -> datetime | None:
    """The first instant after WIB ``day`` (aware; an exclusive bound), or ``None``."""
    return None if day is None else datetime.combine(day + timedelta(days=1), time(0), WIB)
