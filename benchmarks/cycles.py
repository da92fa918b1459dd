"""Benchmark: after a backfill, an idle sync cycle and a "recheck due" cycle, their HTTP requests and SQL statements counted.

Usage: ``.venv/bin/python benchmarks/cycles.py [--database sqlite|postgres] [--complaints 2000 20000] [--json PATH]``.

For each size N (``--complaints``, default 2,000 and 20,000), a simulator process is started with
N complaints and its clock at the end of the period (``--clock end``: every complaint visible).
In this process lapor-sync then, on a fresh database, with a manual clock at the real time:

1. backfills (``SyncService.run()``, as ``lapor-sync sync``: pull, recheck, push);
2. runs an idle cycle 60 s later: nothing changed on either side;
3. runs a "recheck due" cycle once ``open_case_recheck_seconds`` (default 3,600 s) has passed since
   the backfill, still with nothing changed;
4. queues a follow-up on every open case and runs a cycle that pushes them (the simulator's clock is
   frozen, so every complaint they touch now has the same ``updated_at``, the newest in the data set);
5. runs the cycle that pulls what that push changed;
6. runs an idle cycle again, now with all those complaints inside the pull's overlap window
   (``overlap_seconds``, 300 s, before the cursor): the dense case.

Requests are counted by an httpx event hook on lapor-sync's client (method and path kept), SQL
statements by a ``before_cursor_execute`` listener on its engine. Counts, not timings: one run each.
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from bench_support import (
    Counters,
    city_app,
    fresh_database,
    print_table,
    queue_followups,
    simulator_process,
    write_json,
)

from lapor_sync.domain.clock import ManualClock
from lapor_sync.storage.models import Binding


def endpoint(url: str) -> str:
    """The request's path with its numbers replaced by ``{id}``, to group requests by endpoint."""
    return "/".join("{id}" if part.isdigit() else part for part in urlsplit(url).path.split("/"))


def measure(database: str, size: int) -> dict[str, object]:
    """Backfill, then the idle and the recheck-due cycle, against a simulator serving ``size`` complaints."""
    from sqlmodel import func, select

    recheck_seconds = 3600
    with simulator_process("--clock", "end", complaints=size) as base_url, fresh_database(database) as url:
        clock = ManualClock(datetime.now(UTC))
        app = city_app(url, base_url, clock=clock, open_case_recheck_seconds=recheck_seconds)
        app.writable_db()
        counters = Counters()
        cycles: dict[str, dict[str, object]] = {}
        with app.platform() as platform:
            counters.attach(app, platform)
            service = app.sync_service(platform)
            for name, step in (
                ("backfill", timedelta(0)),
                ("idle", timedelta(seconds=60)),
                ("recheck due", timedelta(seconds=recheck_seconds)),
                ("push of a follow-up on every open case", timedelta(seconds=60)),
                ("pull of what that push changed", timedelta(seconds=60)),
                ("idle, dense overlap window", timedelta(seconds=60)),
            ):
                clock.advance(step)
                if name.startswith("push of"):
                    queue_followups(app)
                requests0, statements0 = counters.mark()
                run = service.run()
                made = counters.requests[requests0:]
                cycles[name] = {
                    "outcome": run.outcome,
                    "requests": len(made),
                    "statements": counters.statements - statements0,
                    "by_endpoint": dict(Counter(f"{method} {endpoint(u)}" for method, u, *_ in made).most_common()),
                }
        with app.db.session() as session:
            stored = session.exec(select(func.count()).select_from(Binding)).one()
        app.db.engine.dispose()
    return {"size": size, "complaints": stored, "cycles": cycles}


def main() -> None:
    """Measure each size and print the table."""
    logging.disable(logging.WARNING)  # the backfill's triage warnings (one per unrouted complaint) are not measured
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--complaints", type=int, nargs="+", default=[2_000, 20_000], help="the sizes N to measure")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sizes = []
    for size in args.complaints:
        sizes.append(measure(args.database, size))
        print(f"N = {size:,}: {sizes[-1]['complaints']} complaints stored", flush=True)

    print(f"\nSync cycles after a backfill, {args.database} (counts, one run each)\n")
    rows = []
    for size in sizes:
        for name, cycle in size["cycles"].items():
            top = ", ".join(f"{k} ×{v}" for k, v in list(cycle["by_endpoint"].items())[:4])
            rows.append(
                (
                    f"{size['complaints']:,}",
                    name,
                    cycle["outcome"],
                    str(cycle["requests"]),
                    str(cycle["statements"]),
                    top,
                )
            )
    print_table(("N", "cycle", "outcome", "HTTP requests", "SQL statements", "requests by endpoint"), rows)
    print(f"\nJSON: {write_json(args.json, f'cycles-{args.database}', {'database': args.database, 'sizes': sizes})}")


if __name__ == "__main__":
    main()
