"""``lapor-sync simulator-export``: the simulator's world written as the admin panel's export."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from lapor_sync.cli.app import app
from lapor_sync.cli.simulator_export import parse_period
from lapor_sync.exports.columns import NationalState
from lapor_sync.exports.read import read_export


@pytest.mark.parametrize("kind", ["xlsx", "docx"])
def test_the_generated_world_is_written_for_a_period(tmp_path: Path, kind: str) -> None:
    out = tmp_path / f"rekap.{kind}"

    result = CliRunner().invoke(
        app, ["simulator-export", "--complaints", "30", "--period", "2024-01..2024-03", str(out)]
    )

    assert result.exit_code == 0, result.output
    export = read_export(out)
    assert f"{len(export.rows)} complaints created 2024-01-01 to 2024-03-31 written" in result.stdout
    assert export.rows and export.malformed == []
    assert all(date(2024, 1, 1) <= r.day <= date(2024, 3, 31) for r in export.rows if r.day)
    assert {r.state for r in export.rows} == {NationalState.VERIFIED}  # nothing handled yet in a fresh world


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01..2024-10", (date(2024, 1, 1), date(2024, 10, 31))),
        ("2024-02", (date(2024, 2, 1), date(2024, 2, 29))),
        ("2024-01-05..2024-01-09", (date(2024, 1, 5), date(2024, 1, 9))),
    ],
)
def test_periods(text: str, expected: tuple[date, date]) -> None:
    assert parse_period(text) == expected


@pytest.mark.parametrize("text", ["2024-10..2024-01", "Januari", "2024-13"])
def test_a_wrong_period_is_refused(text: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_period(text)
