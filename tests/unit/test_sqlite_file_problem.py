"""Why SQLite cannot open or write its file, in words naming the file: the cause its own error leaves out."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from lapor_sync.storage.database import make_engine, sqlite_file_problem
from lapor_sync.storage.faults import database_fault


def _no_access_to(monkeypatch: pytest.MonkeyPatch, denied: Path) -> None:
    # Tests may run as root, whom permissions do not stop: the check's view of them is what is tested.
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == denied else real(p, mode))


def test_a_file_this_user_cannot_write_is_said_with_its_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "lapor-sync.db"
    db.touch(mode=0o444)
    db.chmod(0o444)
    _no_access_to(monkeypatch, db)

    assert sqlite_file_problem(str(db)) == "no permission to read and write the file (mode 0444)"


def test_a_folder_this_user_cannot_write_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_access_to(monkeypatch, tmp_path)

    assert sqlite_file_problem(str(tmp_path / "new.db")) == (
        f"no permission to create files in the folder {tmp_path} (the database and its -wal and -shm files)"
    )


def test_a_read_only_file_system_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "statvfs", lambda _path: SimpleNamespace(f_flag=os.ST_RDONLY))

    assert sqlite_file_problem(str(tmp_path / "x.db")) == f"the file system of {tmp_path} is mounted read-only"


def test_a_file_that_can_be_used_has_no_problem(tmp_path: Path) -> None:
    assert sqlite_file_problem(str(tmp_path / "x.db")) is None


def test_sqlites_read_only_error_names_the_file_and_why_only_where_a_person_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "lapor-sync.db"
    engine = make_engine(f"sqlite:///{db}")  # creates the file, 0600
    _no_access_to(monkeypatch, db)

    def as_on_a_file_it_cannot_write(_dbapi: object, _record: object) -> None:
        raise sqlite3.OperationalError("attempt to write a readonly database")  # what WAL mode meets there

    event.listen(engine, "connect", as_on_a_file_it_cannot_write)
    with pytest.raises(OperationalError) as failed, engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    engine.dispose()

    assert database_fault(failed.value, name_the_file=True) == (
        f"attempt to write a readonly database: {db}: no permission to read and write the file (mode 0600)"
    )
    assert database_fault(failed.value) == "attempt to write a readonly database"  # the service log names no path
