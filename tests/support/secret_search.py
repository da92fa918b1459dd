"""Searching everything lapor-sync wrote (logs, tables, command output) for secrets, in the forms they travel in.

A secret can leak as itself, URL-encoded (a query string, a URL), or base64-encoded (an HTTP Basic
``Authorization`` header: ``base64(client_id:client_secret)``). :func:`find_secrets` looks for
every form in every haystack and answers *where*, so a failing test names the table, column and
row, the log record or the command, without printing the whole haystack.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, quote_plus

from sqlalchemy import Engine, MetaData, select

_CONTEXT = 30  # characters shown either side of a find
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is searched too.
_STANDARD_RECORD_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def basic_auth(user: str, password: str) -> str:
    """The credentials part of an HTTP Basic header (RFC 7617): ``base64(user:password)``."""
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def forms(value: str) -> dict[str, str]:
    """The forms a secret may travel in: kind (``raw``, ``url-encoded``, ``base64``...) -> text."""
    raw = value.encode()
    found = {
        "raw": value,
        "lower-case": value.lower(),
        "url-encoded": quote(value, safe=""),
        "form-encoded": quote_plus(value),
        "base64": base64.b64encode(raw).decode("ascii").rstrip("="),
        "base64url": base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="),
    }
    unique: dict[str, str] = {}
    for kind, text in found.items():
        if text not in unique.values():
            unique[kind] = text
    return unique


def find_secrets(haystacks: Mapping[str, str], secrets: Mapping[str, str]) -> list[str]:
    """Look for every form of every secret in every haystack.

    Args:
        haystacks: where -> text (``"table sync_event, row 4, column message"`` -> its value).
        secrets: a label (never the value) -> the secret's value.

    Returns:
        One line per secret found in a haystack (its first form found): the secret's label and form,
        where, and the text around it with every secret replaced by ``<label>``. Empty when nothing leaked.
    """
    needles = {label: forms(value) for label, value in secrets.items()}
    finds = []
    for where, haystack in haystacks.items():
        lowered = haystack.lower()
        for label, kinds in needles.items():
            for kind, needle in kinds.items():
                at = (lowered if kind == "lower-case" else haystack).find(needle)
                if at >= 0:
                    finds.append(f"{label} ({kind}) in {where}: ...{_hidden(haystack, at, len(needle), needles)}...")
                    break
    return finds


def _hidden(haystack: str, at: int, length: int, needles: Mapping[str, Mapping[str, str]]) -> str:
    """The text around a find, every secret in it (in any form) replaced by ``<label>``."""
    context = haystack[max(0, at - _CONTEXT) : at + length + _CONTEXT]
    for label, kinds in needles.items():
        for needle in kinds.values():
            context = context.replace(needle, f"<{label}>")
    return context.replace("\n", "\\n")


def assert_no_secret(haystacks: Mapping[str, str], secrets: Mapping[str, str], *, shown: int = 20) -> None:
    """Fail when some form of some secret is in some haystack, listing the first ``shown`` finds."""
    finds = find_secrets(haystacks, secrets)
    more = f"\n... and {len(finds) - shown} more" if len(finds) > shown else ""
    assert not finds, f"{len(finds)} secret(s) found:\n" + "\n".join(finds[:shown]) + more


def table_rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of the database, in primary-key order: table name -> rows (column -> value).

    Tables are found by reflection, so a table added later is searched (or compared) without changing a test.
    """
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as conn:
        return {
            table.name: [dict(row._mapping) for row in conn.execute(select(table).order_by(*table.primary_key.columns))]
            for table in metadata.sorted_tables
        }


def table_cells(engine: Engine) -> dict[str, str]:
    """Every cell of every table of the database, as text: ``"table T, row N, column C"`` -> value."""
    cells: dict[str, str] = {}
    for table, rows in table_rows(engine).items():
        for number, row in enumerate(rows, start=1):
            for column, value in row.items():
                if value is not None:
                    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                    cells[f"table {table}, row {number}, column {column}"] = text
    return cells


class LogCapture(logging.Handler):
    """Keeps every record it sees as text: logger, level, message, ``extra`` fields and traceback."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Format and keep ``record`` (with its exception and stack, if any)."""
        extras = " ".join(
            f"{key}={value!r}" for key, value in record.__dict__.items() if key not in _STANDARD_RECORD_FIELDS
        )
        self.lines.append(f"{self.format(record)} {extras}".rstrip())

    def haystacks(self) -> dict[str, str]:
        """Each record: ``"log record N (logger)"`` -> its text."""
        return {
            f"log record {number} ({line.split(' ', 1)[0]})": line for number, line in enumerate(self.lines, start=1)
        }


@contextmanager
def capture_all_logs() -> Iterator[LogCapture]:
    """Capture every log record of every logger (root at DEBUG) inside the block.

    Loggers that set their own level (httpx and httpcore at WARNING) keep it: what they hold back
    is never written anywhere, so it cannot leak.
    """
    root = logging.getLogger()
    handler, level = LogCapture(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
