"""Benchmark: every console listing query (lapor_sync.queries) at a city's volume, cold and warm.

Usage: ``.venv/bin/python benchmarks/console_queries.py [URL] [--database sqlite|postgres] [--cases 100000]
[--events 1000000] [--repeats 7] [--json PATH]``.

Without URL, a fresh database of ``--database``'s kind is seeded first (:func:`console_seed.seed`,
about 1.5 minutes for SQLite at the default volume) and dropped after; with URL, that database is
used as it is (seed it once with ``benchmarks/console_seed.py URL``). Each query is timed once
"cold" (the first statement on a new engine: new connection, SQLite's page cache empty; the
operating system's cache and PostgreSQL's shared buffers may still hold the pages) and then
``--repeats`` times warm on that engine: min, median and max in milliseconds. The target of issue
15 is a whole page under 300 ms; a query is only part of a page.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_support import fresh_database, print_table, summary, write_json
from console_seed import RARE, seed
from sqlmodel import Session

from lapor_sync.domain.outbox import OutboxState
from lapor_sync.domain.runs import Level
from lapor_sync.domain.sla import SlaPolicy
from lapor_sync.domain.status import CaseState
from lapor_sync.domain.workdays import WorkingCalendar
from lapor_sync.queries.cases import CaseFilter, search_cases
from lapor_sync.queries.daily import daily_series, overdue_by_agency
from lapor_sync.queries.events import EventFilter, search_events
from lapor_sync.queries.outbox import search_outbox
from lapor_sync.queries.runs import run_events, search_runs
from lapor_sync.queries.set_aside import search_set_aside
from lapor_sync.reports.sla import evaluate_open_cases
from lapor_sync.storage.database import Database

INST = 6271
END_OF_YEAR = datetime(2024, 12, 31, 16, 0, tzinfo=UTC)  # 31 December 2024, 23:00 WIB
POLICY = SlaPolicy(WorkingCalendar(()), followup_working_days=5, autoclose_working_days=10, due_soon_working_days=2)
Query = Callable[[Session], Any]


def queries(cases: int, events: int) -> dict[str, Query]:
    """The timed queries, by name: each listing's first page, its filters, a deep page and the tail."""
    mid_case, mid_event = cases // 2, events // 2
    june = datetime(2024, 6, 10, tzinfo=UTC)
    return {
        "runs: first page": lambda s: search_runs(s, INST),
        "runs: job=pull": lambda s: search_runs(s, INST, job="pull"),
        "runs: outcome=failed": lambda s: search_runs(s, INST, outcome="failed"),
        "runs: trigger=manual, deep": lambda s: search_runs(s, INST, trigger="manual", before_id=cases // 40),
        "run events: one run": lambda s: run_events(s, cases // 40),
        "events: first page": lambda s: search_events(s, INST),
        "events: deep page": lambda s: search_events(s, INST, before_id=mid_event),
        "events: tracking id": lambda s: search_events(s, INST, EventFilter(tracking_id=f"#{2_000_000 + mid_case}")),
        "events: agency": lambda s: search_events(s, INST, EventFilter(agency_code="DISHUB")),
        "events: level=error": lambda s: search_events(s, INST, EventFilter(level=Level.ERROR)),
        "events: level=warning": lambda s: search_events(s, INST, EventFilter(level=Level.WARNING)),
        "events: kind family outbox": lambda s: search_events(s, INST, EventFilter(kind="outbox")),
        "events: kind case.reassigned": lambda s: search_events(s, INST, EventFilter(kind="case.reassigned")),
        "events: one week in June": lambda s: search_events(
            s, INST, EventFilter(since=june, until=june + timedelta(days=7))
        ),
        "events: error + agency + week": lambda s: search_events(
            s, INST, EventFilter(level=Level.ERROR, agency_code="PUPR", since=june, until=june + timedelta(days=7))
        ),
        "events: tail after newest-100": lambda s: search_events(s, INST, after_id=events - 100),
        "cases: first page": lambda s: search_cases(s, INST),
        "cases: deep page": lambda s: search_cases(s, INST, before_id=mid_case),
        "cases: tracking id exact": lambda s: search_cases(s, INST, CaseFilter(tracking_id=str(2_000_000 + mid_case))),
        "cases: tracking id prefix": lambda s: search_cases(s, INST, CaseFilter(tracking_id="#20500")),
        "cases: agency": lambda s: search_cases(s, INST, CaseFilter(agency_code="DISHUB")),
        "cases: open": lambda s: search_cases(s, INST, CaseFilter(open_only=True)),
        "cases: state archived": lambda s: search_cases(s, INST, CaseFilter(state=CaseState.ARCHIVED)),
        "cases: text common": lambda s: search_cases(s, INST, CaseFilter(text="lampu")),
        "cases: text rare": lambda s: search_cases(s, INST, CaseFilter(text=RARE)),
        "cases: text matching nothing": lambda s: search_cases(s, INST, CaseFilter(text="tidak-ada-kata-ini")),
        "cases: text + agency": lambda s: search_cases(s, INST, CaseFilter(text=RARE, agency_code="DISHUB")),
        "outbox: first page": lambda s: search_outbox(s, INST),
        "outbox: dead": lambda s: search_outbox(s, INST, state=OutboxState.DEAD),
        "outbox: pending": lambda s: search_outbox(s, INST, state=OutboxState.PENDING),
        "outbox: kind forward": lambda s: search_outbox(s, INST, kind="forward"),
        "outbox: tracking id": lambda s: search_outbox(s, INST, tracking_id=str(2_000_000 + mid_case)),
        "set aside: unresolved": lambda s: search_set_aside(s, INST),
        "set aside: all": lambda s: search_set_aside(s, INST, include_resolved=True),
        "dashboard: daily series 30 d": lambda s: daily_series(s, INST, now=END_OF_YEAR),
        "dashboard: overdue by agency": lambda s: overdue_by_agency(s, INST, policy=POLICY, now=END_OF_YEAR),
        "sla: every open case evaluated one by one": lambda s: evaluate_open_cases(s, INST, POLICY, END_OF_YEAR),
    }


def _ms(query: Query, session: Session) -> float:
    started = time.perf_counter()
    query(session)
    return (time.perf_counter() - started) * 1000


def measure(url: str, named: dict[str, Query], repeats: int) -> dict[str, dict[str, float]]:
    """Time each query: once cold on its own new engine, then ``repeats`` times warm."""
    results: dict[str, dict[str, float]] = {}
    for name, query in named.items():
        db = Database(url)
        try:
            with db.session() as session:
                cold = _ms(query, session)
                warm = [_ms(query, session) for _ in range(repeats)]
        finally:
            db.dispose()
        results[name] = {"cold": cold, **summary(warm)}
    return results


@contextmanager
def database(url: str | None, kind: str, cases: int, events: int) -> Iterator[str]:
    """The URL given, or a fresh database of ``kind`` seeded at the volume asked (dropped after)."""
    if url:
        yield url
        return
    with fresh_database(kind) as fresh:
        done = seed(fresh, cases=cases, events=events)
        print(f"seeded {done.counts} in {done.seconds:.0f} s")
        yield fresh


def main() -> None:
    """Seed (unless given a URL), time every query, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", help="a database seeded by console_seed.py (default: seed a fresh one)")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with database(args.url, args.database, args.cases, args.events) as url:
        results = measure(url, queries(args.cases, args.events), args.repeats)
        dialect = Database(url).engine.dialect.name
    print(f"\n{dialect}, {args.cases:,} cases, {args.events:,} events; ms, warm over {args.repeats} repeats\n")
    print_table(
        ["query", "cold", "warm min", "warm median", "warm max"],
        [
            [name, f"{r['cold']:.1f}", f"{r['min']:.1f}", f"{r['median']:.1f}", f"{r['max']:.1f}"]
            for name, r in results.items()
        ],
    )
    if args.json:
        write_json(args.json, "console_queries", {"dialect": dialect, "results": results})


if __name__ == "__main__":
    main()
