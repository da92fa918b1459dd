"""The ``demo`` command's work folder (emptied only when it holds nothing but the demo's own files), and its
simulator child process (answering, then stopped on every way out, a failure part-way included)."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from lapor_sync.app import App
from lapor_sync.demo import runner
from lapor_sync.demo import simulator_child as simulator_child_module
from lapor_sync.demo.runner import prepare_workdir, run_demo
from lapor_sync.demo.simulator_child import simulator_child, started_simulator
from lapor_sync.domain.errors import ConfigurationError
from lapor_sync.domain.timezones import WIB


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


class RecordingPopen(subprocess.Popen[str]):
    """``subprocess.Popen`` that keeps every process it starts, to check afterwards that each has ended."""

    started: ClassVar[list[subprocess.Popen[str]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        RecordingPopen.started.append(self)


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[str]]:
    RecordingPopen.started = []
    monkeypatch.setattr(simulator_child_module.subprocess, "Popen", RecordingPopen)
    return RecordingPopen.started


def ended(process: subprocess.Popen[str]) -> bool:
    """True when ``process`` has ended and been reaped (no zombie, no orphan left running)."""
    if process.returncode is None:
        return False
    with pytest.raises(ProcessLookupError):
        os.kill(process.pid, 0)
    return True


@pytest.mark.parametrize("way_out", [None, RuntimeError, KeyboardInterrupt])
def test_the_simulator_child_answers_and_is_stopped_on_every_way_out(way_out: type[BaseException] | None) -> None:
    with contextlib.suppress(RuntimeError, KeyboardInterrupt), simulator_child("--no-rate-limit") as child:
        answer = child.admin("GET", "/_simulator/clock")
        assert answer["now"] == "01-01-2024 00:00:00"
        child.advance_to(datetime(2024, 1, 5, 16, 30, tzinfo=WIB))
        assert child.admin("GET", "/_simulator/clock")["now"] == "05-01-2024 16:30:00"
        if way_out is not None:
            raise way_out("the demo failed part-way")
    assert ended(child.process)


def test_a_simulator_child_that_cannot_start_is_a_clear_error_and_leaves_no_process(
    children: list[subprocess.Popen[str]],
) -> None:
    with pytest.raises(RuntimeError) as caught, simulator_child("--clock", "saved"):
        pytest.fail("the block must not run")

    assert "ended before it listened" in str(caught.value) and "needs --state" in str(caught.value)
    assert len(children) == 1 and ended(children[0])


def test_a_demo_failing_part_way_leaves_no_simulator_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, children: list[subprocess.Popen[str]]
) -> None:
    class FailingPull:
        def run(self, **_: Any) -> None:
            raise RuntimeError("the pull failed")

    monkeypatch.setattr(App, "sync_service", lambda _app, _platform: FailingPull())

    with pytest.raises(RuntimeError, match="the pull failed"):
        run_demo(tmp_path / "demo")

    assert len(children) == 1 and ended(children[0])
    assert not (tmp_path / "demo" / "simulator-state.json").exists()  # saved only by a demo that finished


def test_a_demo_failing_in_its_set_up_while_the_simulator_starts_leaves_no_simulator_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, children: list[subprocess.Popen[str]]
) -> None:
    def failing_plan(*_: Any, **__: Any) -> None:
        raise ValueError("too few complaints")

    monkeypatch.setattr(runner, "draw_outcomes", failing_plan)

    with pytest.raises(ValueError, match="too few complaints"):
        run_demo(tmp_path / "demo")

    assert len(children) == 1 and ended(children[0])


def test_a_started_simulator_is_yielded_at_once_and_answers_once_waited_for() -> None:
    with started_simulator("--no-rate-limit") as starting:
        assert starting.process.poll() is None  # yielded at once: still starting, or listening already
        child = starting.answering()
        assert child.admin("GET", "/_simulator/clock")["now"] == "01-01-2024 00:00:00"
    assert ended(child.process)


def test_the_simulator_child_saves_its_world_to_the_file_named_at_start_and_not_when_stopped(tmp_path: Path) -> None:
    state = tmp_path / "simulator-state.json"
    with simulator_child("--no-rate-limit", "--save-state", str(state)) as child:
        child.advance_to(datetime(2024, 3, 1, 16, 30, tzinfo=WIB))
        assert not state.exists()
        child.save()
        saved = state.read_bytes()
        child.advance_to(datetime(2024, 4, 5, 16, 30, tzinfo=WIB))

    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert state.read_bytes() == saved  # SIGTERM on the way out saves nothing more
    assert json.loads(saved)["clock"] == datetime(2024, 3, 1, 16, 30, tzinfo=WIB).astimezone(UTC).isoformat()
