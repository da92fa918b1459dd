"""The status line of ``lapor-sync sync`` on a terminal: pages, complaints, requests and quota waits so far."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from lapor_sync.domain.timezones import WIB

if TYPE_CHECKING:
    import httpx

    from lapor_sync.sync.journal import RunJournal


class SyncProgress:
    """What a running sync has done so far, read from its journal's counters and the requests it sends.

    Rich redraws it about ten times a second (:meth:`__rich__`), from its own thread; the counters
    are read, never written. Nothing of a request but its URL is looked at (its headers hold the
    credentials). Retries count as requests, not as new pages.

    Args:
        inbox_path: the inbox endpoint's path (``endpoints.inbox``): a request to it is one page.
        now: the current instant, aware (the clock of the run).
    """

    def __init__(self, inbox_path: str, now: Callable[[], datetime]) -> None:
        self._inbox_path = inbox_path.rstrip("/")
        self._now = now
        self._lock = threading.Lock()  # requests are sent from a pull's fetch threads and a push's delivery threads
        self.requests = 0
        self._pages: set[str] = set()  # an inbox URL asked again (a retry) is the same page
        self.journal: RunJournal | None = None

    @property
    def pages(self) -> int:
        """Inbox pages asked for so far."""
        return len(self._pages)

    def on_request(self, request: httpx.Request) -> None:
        """Count ``request`` (a hook of ``LaporClient.watch_requests``), and its page when it asks the inbox."""
        with self._lock:
            self.requests += 1
            if request.url.path.rstrip("/").endswith(self._inbox_path):
                self._pages.add(str(request.url))

    def watch(self, journal: RunJournal) -> None:
        """Follow the counters of ``journal``, the run now under way (``SyncService.run(watch=...)``)."""
        self.journal = journal

    def __rich__(self) -> Text:
        """One line: ``pages 3 · fetched 250 · created 200 · updated 40 · pushed 5 · requests 260``, and any quota wait."""
        parts = [f"pages {self.pages}"]
        journal = self.journal
        if journal is not None:
            counts = journal.counts
            parts += [
                f"fetched {counts.fetched}",
                f"created {counts.created}",
                f"updated {counts.updated}",
                f"pushed {counts.pushed}",
            ]
        parts.append(f"requests {self.requests}")
        if journal is not None:
            until = journal.quota_wait_until
            if until is not None and until > self._now():
                parts.append(f"waiting on the request quota until {until.astimezone(WIB):%H:%M:%S} WIB")
            elif waited := round(journal.quota_waited_seconds):
                parts.append(f"quota waits {waited} s")
        return Text(" · ".join(parts))


@contextmanager
def sync_status(console: Console, progress: SyncProgress, *, shown: bool) -> Iterator[None]:
    """Draw ``progress`` as a status line on ``console`` while the block runs, when ``shown`` and a terminal.

    Piped, or with ``--json``, nothing is drawn: the output stays the result alone. The line is
    erased when the block ends; the run's table says the rest.
    """
    if not (shown and console.is_terminal):
        yield
        return
    with console.status(progress, spinner="dots"):
        yield
