"""What every command shares: the ``--config`` file, lazily loaded settings, and error exits."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from lapor_sync.app import App
    from lapor_sync.domain.runs import Verdict

EXIT_RUN_FAILED = 1  # a run failed or delivered none of the rows it tried; the worker left runs in flight at its stop
EXIT_CONFIG = 2  # a setting, mapping file or argument is wrong: nothing was done
EXIT_BUSY = 3  # another runner holds the job's lease past lease_wait_seconds: nothing was done
EXIT_PARTLY_FAILED = 4  # the run finished and delivered some outbox rows; others failed (retried later) or died
EXIT_INTERNAL = 70  # an internal error (sysexits EX_SOFTWARE): never taken for a failed run or a `status` verdict


@dataclass
class CliState:
    """Per-invocation state kept on the typer context object."""

    config_file: Path | None = None
    command: str | None = None  # the subcommand, which names this process as a lease holder
    _app: App | None = field(default=None, repr=False)

    def app(self) -> App:
        """The :class:`App` built from ``--config`` and the environment (raises ConfigurationError)."""
        if self._app is None:
            # Imported here, not at the top: the composition root pulls in SQLAlchemy, httpx and the
            # adapters, which `--help` and a mistyped option never need (`lapor-sync --help` starts fast).
            from lapor_sync.app import App
            from lapor_sync.config.settings import load_settings

            self._app = App(load_settings(self.config_file), purpose=self.command or "lapor-sync")
        return self._app


def state(ctx: typer.Context) -> CliState:
    """Return the invocation's :class:`CliState` (set by the main callback)."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def operator_name() -> str:
    """The OS user running this command, named in the audit events of admin commands (resync, outbox)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "an unnamed user"


def exit_with(verdict: Verdict) -> None:
    """End the command with the exit code of ``verdict`` (0 ok, 4 partly failed, 1 failed); return on ``ok``.

    Raises:
        typer.Exit: for ``partly_failed`` (:data:`EXIT_PARTLY_FAILED`) and ``failed`` (:data:`EXIT_RUN_FAILED`).
    """
    from lapor_sync.domain.runs import Verdict

    if verdict is not Verdict.OK:
        raise typer.Exit(EXIT_PARTLY_FAILED if verdict is Verdict.PARTLY_FAILED else EXIT_RUN_FAILED)
