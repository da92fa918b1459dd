"""WIB (Asia/Jakarta, UTC+7), defined here once: for display, calendar periods, the wire's local times and settings."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")


def display_wib(instant: datetime | None) -> str:
    """Format an aware instant for people: ``2024-10-31 16:30 WIB``; empty for ``None``."""
    return "" if instant is None else instant.astimezone(WIB).strftime("%Y-%m-%d %H:%M WIB")


def wib_midnight(day: date) -> datetime:
    """The instant a WIB calendar day begins (aware): a day's lower bound, or the day before's upper one."""
    return datetime.combine(day, time(0), WIB)
