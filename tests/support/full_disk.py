"""A full disk on demand: fill a small file system, and a sync in a child process that fills it mid-run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from lapor_sync.app import App
from lapor_sync.domain.clock import SystemClock
from tests.support.e2e import PlatformWrapper, client_for, settings_for
from tests.support.paths import REPO_ROOT


def fill(folder: Path, *, leave: int = 0) -> Path:
    """Fill ``folder``'s file system with one file, leaving about ``leave`` bytes (0: none at all); return the file."""
    filler = folder / "filler"
    stat = os.statvfs(folder)
    try:
        with filler.open("ab", buffering=0) as out:
            out.write(b"\0" * max(stat.f_bavail * stat.f_frsize - leave, 0))
            while leave == 0:
                out.write(b"\0" * 4096)
    except OSError:
        pass  # full
    return filler


def run_sync_that_fills_the_disk(base_url: str, database_url: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """Run a sync in a child process whose disk fills once it holds the pull lease: it exits on the full disk."""
    code = (
        "from tests.support.full_disk import _sync_filling_the_disk; "
        f"_sync_filling_the_disk({base_url!r}, {database_url!r}, {str(folder)!r})"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
    )


class _FillsTheDisk(PlatformWrapper):
    def __init__(self, inner: Any, folder: Path) -> None:
        super().__init__(inner)
        self.folder = folder

    def walk_inbox(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        fill(self.folder)
        return self.inner.walk_inbox(*args, **kwargs)


def _sync_filling_the_disk(base_url: str, database_url: str, folder: str) -> None:
    clock = SystemClock()
    app = App(settings_for(database_url, base_url), clock=clock)
    assert isinstance(clock.now(), datetime)
    with client_for(base_url, clock) as platform:
        app.sync_service(_FillsTheDisk(platform, Path(folder))).run()  # type: ignore[arg-type]
    sys.exit("the sync should have failed on the full disk")
