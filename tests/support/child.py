"""Run a snippet of Python as a child process against this checkout, without the caller's LAPOR_SYNC_ settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO_ROOT


def run_python(
    code: str, cwd: Path, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c CODE ARGS`` in ``cwd`` with this checkout importable; text output captured, 60 s at most."""
    env = {name: value for name, value in os.environ.items() if not name.upper().startswith("LAPOR_SYNC_")}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env={**env, **(extra_env or {}), "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
