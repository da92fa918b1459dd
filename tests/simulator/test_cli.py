"""The ``simulator`` CLI command: its options and its refusal of contradictory ones (no serving)."""

from __future__ import annotations

from typer.testing import CliRunner

from tests.support.cli import simulator_app


def test_help_names_the_options() -> None:
    result = CliRunner().invoke(simulator_app(), ["simulator", "--help"])
    assert result.exit_code == 0
    for option in ("--port", "--state", "--save-state", "--clock", "--no-rate-limit", "--auth-mode"):
        assert option in result.output


def test_saved_clock_without_state_is_refused_before_serving() -> None:
    result = CliRunner().invoke(simulator_app(), ["simulator", "--clock", "saved", "--port", "0"])
    assert result.exit_code == 2
    assert "needs --state" in result.output


def test_complaints_option_defaults_to_the_demo_data_set_and_refuses_a_size_below_one() -> None:
    from lapor_sync.cli.simulator import simulator
    from lapor_sync.simulator.dataset import TOTAL

    assert simulator.__defaults__ is not None and TOTAL in simulator.__defaults__
    help_text = CliRunner().invoke(simulator_app(), ["simulator", "--help"]).output
    assert "--complaints" in help_text
    result = CliRunner().invoke(simulator_app(), ["simulator", "--complaints", "0", "--port", "0"])
    assert result.exit_code == 2
    assert "--complaints" in result.output


def test_gateway_options_are_documented_and_need_the_gateway() -> None:
    help_text = CliRunner().invoke(simulator_app(), ["simulator", "--help"]).output
    for option in ("--gateway", "--gateway-header", "--gateway-faults", "--quota-per-minute", "--gateway-key-lifetime"):
        assert option in help_text
    result = CliRunner().invoke(simulator_app(), ["simulator", "--quota-per-minute", "5", "--port", "0"])
    assert result.exit_code == 2
    assert "--quota-per-minute needs --gateway splp" in result.output
    result = CliRunner().invoke(
        simulator_app(), ["simulator", "--gateway", "splp", "--gateway-header", " ", "--port", "0"]
    )
    assert result.exit_code == 2
    assert "needs a name" in result.output
