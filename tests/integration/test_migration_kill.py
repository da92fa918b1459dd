"""A `lapor-sync db upgrade` killed with SIGKILL at any point leaves a SQLite database the next upgrade completes.

Each kill point is a SQL statement of the migration: the CLI process kills itself just before sending
it, so statements 1..N-1 ran and N did not. Points are counted, not timed, so every run tests the
same points whatever the machine's speed. The processes are forked from a server that has already
imported lapor-sync (``multiprocessing``'s forkserver), so each kill costs the migration, not the
1.2 s of imports. By default every 8th statement is a kill point (13 of the 97 statements of a
fresh upgrade, 5 s); set ``LAPOR_SYNC_TEST_KILL_EVERY_STATEMENT=1`` to kill before every one (30 s).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event
from sqlmodel import SQLModel

from lapor_sync.storage import models  # noqa: F401  (registers the tables on the metadata)
from lapor_sync.storage.database import Database, alembic_config
from lapor_sync.storage.trigram import not_trigram

STRIDE = 1 if os.environ.get("LAPOR_SYNC_TEST_KILL_EVERY_STATEMENT") == "1" else 8


@contextmanager
def _counting_statements() -> Iterator[list[str]]:
    """Collect every SQL statement any engine sends while the block runs."""
    sent: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        sent.append(statement)

    event.listen(Engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", note)


def _cli_upgrade(url: str, kill_before: int, output_file: str) -> None:
    """In a child process: ``lapor-sync db upgrade`` on ``url``, SIGKILLed before statement ``kill_before`` (0: never)."""
    from lapor_sync.cli.app import main

    for name in [name for name in os.environ if name.upper().startswith("LAPOR_SYNC_")]:
        del os.environ[name]
    os.environ["LAPOR_SYNC_DATABASE_URL"] = url
    os.environ["COLUMNS"] = "400"  # the error on one line
    sent = itertools.count(1)

    def kill(*_args: object) -> None:
        if next(sent) == kill_before:
            os.kill(os.getpid(), signal.SIGKILL)

    if kill_before:
        event.listen(Engine, "before_cursor_execute", kill)
    sys.argv = ["lapor-sync", "db", "upgrade"]
    with open(output_file, "w", encoding="utf-8") as output:
        os.dup2(output.fileno(), 1)
        os.dup2(output.fileno(), 2)
        main()


def _run(processes: multiprocessing.context.ForkServerContext, url: str, kill_before: int, output_file: Path) -> int:
    child = processes.Process(target=_cli_upgrade, args=(url, kill_before, str(output_file)))
    child.start()
    child.join(60)
    assert child.exitcode is not None, "the upgrade did not finish within 60 s"
    return child.exitcode


def _schema_problems(url: str) -> list[object]:
    """What differs between the database and the models, plus its version if it is not the newest."""
    database = Database(url)
    try:
        with database.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True, "include_object": not_trigram}
            )
            differences: list[object] = list(compare_metadata(context, SQLModel.metadata))
            heads = set(context.get_current_heads())
        newest = set(ScriptDirectory.from_config(alembic_config(database.engine)).get_heads())
        return differences + ([f"version {heads}, newest {newest}"] if heads != newest else [])
    finally:
        database.dispose()


def test_an_upgrade_killed_at_any_statement_leaves_a_database_the_next_upgrade_completes(tmp_path: Path) -> None:
    with _counting_statements() as sent:
        Database(f"sqlite:///{tmp_path / 'measure.db'}").upgrade()
    total = len(sent)
    processes = multiprocessing.get_context("forkserver")
    processes.set_forkserver_preload(["lapor_sync.cli.app", "tests.integration.test_migration_kill"])

    outcomes: dict[int, str] = {}
    for point in range(1, total + 1, STRIDE):
        url = f"sqlite:///{tmp_path / f'killed-{point}.db'}"
        killed = _run(processes, url, point, tmp_path / f"killed-{point}.err")
        assert killed == -signal.SIGKILL, f"statement {point}: the upgrade ended with {killed}, not killed"
        again = _run(processes, url, 0, tmp_path / f"again-{point}.err")
        problems = _schema_problems(url) if again == 0 else []
        if again != 0 or problems:
            output = (tmp_path / f"again-{point}.err").read_text(encoding="utf-8").strip()
            outcomes[point] = f"exit {again}: {output}" if again != 0 else f"schema differs: {problems}"

    assert total > 50
    assert not outcomes, (
        f"{len(outcomes)} of {len(range(1, total + 1, STRIDE))} kill points (of {total} statements) "
        "left a database the next upgrade cannot complete:\n"
        + "\n".join(f"killed before statement {point}: {what}" for point, what in outcomes.items())
    )
