"""The effective settings as ``config show`` gives them: each value masked, with its source and variable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lapor_sync.adapters.national.config import connection_report
from lapor_sync.config.settings import Settings, source_variable


@dataclass(frozen=True)
class ConfigView:
    """Every setting and the national connection it makes; no secret in it.

    Attributes:
        settings: by name, in the settings' order: ``{"value", "source", "env"}``; the value masked
            as :meth:`Settings.masked` masks it; ``source`` one of ``env``, ``env-file``, ``file``,
            ``default``; ``env`` the variable that set it (or would).
        national: the auth mode, the headers each request carries, the API kind, the SPLP key's
            claims (never the key) and warnings (:func:`connection_report`).
    """

    settings: dict[str, dict[str, Any]]
    national: dict[str, Any]


def config_view(settings: Settings, now: datetime) -> ConfigView:
    """Describe ``settings`` for people, secrets masked.

    Args:
        settings: the validated settings.
        now: the current instant (aware), against which the SPLP key's expiry is judged.
    """
    values, sources = settings.masked(), settings.value_sources()
    return ConfigView(
        {
            name: {"value": value, "source": sources[name], "env": source_variable(name, sources[name])}
            for name, value in values.items()
        },
        connection_report(settings, now).as_data(),
    )
