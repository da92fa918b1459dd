"""Whether a database error means the disk is full, and how that is said.

SQLite says "database or disk is full" (``SQLITE_FULL``) when a write meets ``ENOSPC``, and a bare
"disk I/O error" (``SQLITE_IOERR``) when growing its ``-shm`` or ``-wal`` file fails on it: an
operator reading the second suspects the hardware. Both are said as a full disk, with the folder
of the database file and the space left there (``os.statvfs``), when that folder holds less than
:data:`FULL_BELOW_BYTES`. PostgreSQL's "could not extend file ...: No space left on device"
(SQLSTATE ``53100``) is the server's disk: said so, without a local path.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

FULL_BELOW_BYTES = 1024 * 1024
"""Free space under which the database's folder counts as full, bytes (1 MiB): a sync run writes more."""
_SQLITE_FULL, _SQLITE_IOERR = 13, 10  # primary result codes
_PG_DISK_FULL = "53100"


def free_bytes(folder: str | Path) -> int | None:
    """The space an unprivileged process may still write in ``folder``'s file system, bytes; ``None`` if unknown."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


def say_bytes(count: int) -> str:
    """``count`` bytes in words: ``0 B``, ``512 B``, ``12 KiB``, ``3.4 MiB``, ``1.2 GiB``."""
    if count < 1024:
        return f"{count} B"
    value, unit = float(count), "B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):  # noqa: B007 - the last unit reached is the one said
        value /= 1024
        if value < 1024:
            break
    return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"


def sqlite_disk_full(error: sqlite3.Error, database_file: str) -> str | None:
    """Say that the disk holding ``database_file`` is full, if ``error`` comes from that; else ``None``.

    Args:
        error: the driver's error.
        database_file: the SQLite file's path.

    Returns:
        ``"the disk is full: 12 KiB free in /srv/lapor-sync, the database's folder (SQLite: database or
        disk is full)"`` for ``SQLITE_FULL``, and for ``SQLITE_IOERR`` while the folder holds less than
        :data:`FULL_BELOW_BYTES`; ``None`` otherwise (an I/O error on a disk with room is the disk's).
    """
    code = getattr(error, "sqlite_errorcode", None)
    if not isinstance(code, int) or (code & 0xFF) not in (_SQLITE_FULL, _SQLITE_IOERR):
        return None
    folder = Path(os.path.abspath(database_file)).parent
    free = free_bytes(folder)
    if (code & 0xFF) == _SQLITE_IOERR and (free is None or free >= FULL_BELOW_BYTES):
        return None
    left = "" if free is None else f"{say_bytes(free)} free in "
    return f"the disk is full: {left}{folder}, the database's folder (SQLite: {error})"


def sqlite_folder_full(database_file: str) -> str | None:
    """Say that the folder of ``database_file`` holds less than :data:`FULL_BELOW_BYTES`, else ``None``.

    For the write probe of ``status`` and ``/healthz``: a probe rolled back writes nothing to the
    disk, so it succeeds on a full one while every run fails.
    """
    folder = Path(os.path.abspath(database_file)).parent
    free = free_bytes(folder)
    if free is None or free >= FULL_BELOW_BYTES:
        return None
    return f"the disk is full: {say_bytes(free)} free in {folder}, the database's folder"


def postgres_disk_full(error: BaseException) -> str | None:
    """Say that the PostgreSQL server's disk is full, if ``error`` (a psycopg error) says so; else ``None``."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if getattr(error, "sqlstate", None) != _PG_DISK_FULL and "No space left on device" not in message:
        return None
    return f"the database server's disk is full (PostgreSQL: {message}); free space on the server"
