"""Sync events as log lines, for ``lapor-sync log`` (as JSON lines: :func:`lapor_sync.queries.events.event_json`)."""

from __future__ import annotations

from rich.text import Text

from lapor_sync.domain.timezones import display_wib
from lapor_sync.storage.models import SyncEvent

_LEVEL_STYLES = {"warning": "yellow", "error": "bold red"}


def event_line(event: SyncEvent) -> Text:
    """One event as one log line: ``2024-10-31 16:30 WIB  #2317747  DISKOMINFO  warning  kind  message``."""
    return Text.assemble(
        (display_wib(event.at), "dim"),
        "  ",
        f"#{event.tracking_id}" if event.tracking_id else "-",
        "  ",
        event.agency_code or "-",
        "  ",
        (event.level, _LEVEL_STYLES.get(event.level, "")),
        "  ",
        (event.kind, "cyan"),
        "  ",
        event.message,
    )
