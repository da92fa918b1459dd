"""What every command shares: the ``--config`` file, lazily loaded settings, and error exits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer

from lapor_sync.app import App
from lapor_sync.settings import load_settings

EXIT_CONFIG = 2  # a setting, mapping file or argument is wrong: nothing was done


@dataclass
class CliState:
    """Per-invocation state kept on the typer context object."""

    config_file: Path | None = None
    _app: App | None = field(default=None, repr=False)

    def app(self) -> App:
        """The :class:`App` built from ``--config`` and the environment (raises ConfigurationError)."""
        if self._app is None:
            self._app = App(load_settings(self.config_file))
        return self._app


def state(ctx: typer.Context) -> CliState:
    """Return the invocation's :class:`CliState` (set by the main callback)."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj
