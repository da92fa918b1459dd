"""Review: on an 80-column terminal the ids people copy from a listing are shown whole."""

from __future__ import annotations

import pytest

from tests.support.cli import Seeded, cli_env, invoke, seeded

__all__ = ["cli_env", "seeded"]  # fixtures


def test_review_case_list_and_log_keep_tracking_ids_whole_at_80_columns(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    listing = invoke("case", "list")
    log = invoke("log")

    assert listing.exit_code == 0 and log.exit_code == 0
    tracking_ids = {
        line.split("│")[2].strip()
        for line in listing.stdout.splitlines()
        if line.startswith("│") and line.split("│")[1].strip()
    }
    assert tracking_ids and all(t.startswith("#") and "…" not in t for t in tracking_ids)
    assert all(f" {t} " in log.stdout for t in tracking_ids)
