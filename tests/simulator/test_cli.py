"""The ``simulator`` CLI command: its options and its refusal of contradictory ones (no serving)."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from lapor_sync.cli.simulator import register


def make_app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:
        """Keep ``simulator`` a named sub-command even when it is the only one."""

    return app


def test_help_names_the_options() -> None:
    result = CliRunner().invoke(make_app(), ["simulator", "--help"])
    assert result.exit_code == 0
    for option in ("--port", "--state", "--save-state", "--clock", "--no-rate-limit", "--auth-mode"):
        assert option in result.output


def test_saved_clock_without_state_is_refused_before_serving() -> None:
    result = CliRunner().invoke(make_app(), ["simulator", "--clock", "saved", "--port", "0"])
    assert result.exit_code == 2
    assert "needs --state" in result.output
