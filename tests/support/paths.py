"""Where the repository is, for tests that start processes in it or read its files."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The checkout's top folder: ``pyproject.toml``, ``lapor_sync/``, ``scripts/``, ``tests/``."""
