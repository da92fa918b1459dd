"""The ``demo`` command's work folder: it empties only its own folder, never one holding files it did not write."""

from __future__ import annotations

from pathlib import Path

import pytest

from lapor_sync.demo.runner import prepare_workdir
from lapor_sync.domain.errors import ConfigurationError


def test_review_the_demo_refuses_a_workdir_holding_other_files(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\n", encoding="utf-8")
    (tmp_path / "lapor-sync.db").write_text("", encoding="utf-8")

    with pytest.raises(ConfigurationError) as caught:
        prepare_workdir(tmp_path)

    assert "pyproject.toml" in str(caught.value) and str(tmp_path) in str(caught.value)
    assert (tmp_path / "pyproject.toml").exists() and (tmp_path / "lapor-sync.db").exists()


def test_review_the_demo_empties_a_previous_demo_folder_and_creates_a_new_one(tmp_path: Path) -> None:
    previous = tmp_path / "previous"
    previous.mkdir()
    for name in ("lapor-sync.db", "lapor-sync.db-wal", "lapor-sync.toml", "simulator-state.json"):
        (previous / name).write_text("old", encoding="utf-8")

    prepare_workdir(previous)
    prepare_workdir(tmp_path / "new" / "demo")

    assert list(previous.iterdir()) == [] and (tmp_path / "new" / "demo").is_dir()
