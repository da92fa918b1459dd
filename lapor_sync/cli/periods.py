"""Dates and instants typed on the command line: WIB calendar days, or ISO datetimes."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import typer

from lapor_sync.domain.clock import Clock
from lapor_sync.domain.timezones import WIB, wib_midnight


def today_wib(clock: Clock) -> date:
    """Return today's calendar date in WIB, by ``clock``."""
    return clock.now().astimezone(WIB).date()


def parse_day(text: str, option: str) -> date:
    """Parse a calendar day written ``YYYY-MM-DD``.

    Raises:
        typer.BadParameter: ``text`` is not such a date (names ``option``).
    """
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"expected a date YYYY-MM-DD, got {text!r}", param_hint=option) from None


def parse_instant(text: str, option: str, *, end_of_day: bool = False) -> datetime:
    """Parse a bound of a time window: a WIB day, or an ISO 8601 datetime.

    Args:
        text: ``2024-10-31`` (a WIB calendar day), ``2024-10-31T16:30`` (WIB when no offset is given)
            or ``2024-10-31T09:30:00Z`` / ``...+07:00`` (as written).
        option: the option's name, for the error message.
        end_of_day: for an upper bound: a bare day means the end of that WIB day (the next midnight).

    Returns:
        An aware instant.

    Raises:
        typer.BadParameter: ``text`` is neither form.
    """
    if len(text) == 10:
        day = parse_day(text, option)
        return wib_midnight(day + timedelta(days=1 if end_of_day else 0))
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"expected a WIB date YYYY-MM-DD or an ISO datetime, got {text!r}", param_hint=option
        ) from None
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=WIB)
