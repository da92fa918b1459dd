"""Measure: SIGTERM to a worker in the middle of a push, then a restart: no follow-up reaches LAPOR! twice.

Usage: ``.venv/bin/python scripts/sigterm_push.py [--database sqlite|postgres] [--post-delay 0.05]``.
Serves the simulator at 1 February 2024 (its POSTs slowed by ``--post-delay`` seconds so the push
lasts a while), pulls once, lets simulated staff write a follow-up on every open case, starts a
worker (the outbox watcher starts its push), sends SIGTERM once a few rows are delivered, then
restarts the worker with ``--once`` and counts the follow-ups per reference token on the simulator.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from tempfile import TemporaryDirectory

from measure_support import (
    WATCHER_ONLY,
    city_app,
    cli,
    fresh_database,
    measurement_parser,
    print_push_runs,
    pull_then_staff_round,
    runs,
    served_simulator,
    start_worker,
    worker_env,
)
from sqlmodel import select

from lapor_sync.domain.timezones import WIB
from lapor_sync.storage.lease import held_leases
from lapor_sync.storage.models import OutboxItem


def outbox_states(app) -> Counter[str]:
    """Outbox rows by state."""
    with app.db.session() as session:
        return Counter(session.exec(select(OutboxItem.state)))


def main() -> None:
    """Run the measurement and print what happened."""
    parser = measurement_parser(__doc__)
    parser.add_argument("--post-delay", type=float, default=0.05)
    args = parser.parse_args()

    start = datetime(2024, 2, 1, 16, 30, tzinfo=WIB)
    with (
        fresh_database(args.database) as url,
        served_simulator(start, post_delay=args.post_delay) as served,
        TemporaryDirectory() as logs,
    ):
        app = city_app(url, served.base_url)
        env = worker_env(url, served.base_url, **WATCHER_ONLY, shutdown_timeout_seconds=30)
        done = pull_then_staff_round(env, app)
        queued = outbox_states(app)
        print(f"pulled the inbox; staff wrote {done.followups} follow-ups: outbox {dict(queued)}")

        worker = start_worker(env, Path(logs) / "first.log")
        deadline = time.monotonic() + 60
        while outbox_states(app)["delivered"] < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        signalled, at_signal = time.monotonic(), outbox_states(app)["delivered"]
        code = worker.wait(timeout=60)
        print(
            f"SIGTERM with {at_signal} rows delivered: worker exited {code} "
            f"in {time.monotonic() - signalled:.2f} s; outbox now {dict(outbox_states(app))}; "
            f"leases held: {len(held_leases(app.db, app.clock))}"
        )
        print_push_runs(app)
        tail = [line for line in (Path(logs) / "first.log").read_text().splitlines() if '"lapor_sync.worker"' in line]
        print("  worker log: " + " | ".join(line.split('"message": ')[1].split('"')[1] for line in tail[-3:]))

        again = cli(env, "worker", "--once")
        last = runs(app)[-1]
        print(
            f"restart (`worker --once`): exit {again.returncode}; last run #{last.id} {last.job}: {last.outcome}, "
            f"pushed {last.pushed}; outbox now {dict(outbox_states(app))}"
        )
        per_reference = served.followups_per_reference()
        with app.db.session() as session:
            keys = set(session.exec(select(OutboxItem.idempotency_key).where(OutboxItem.kind == "followup")))
        twice = {ref: n for ref, n in per_reference.items() if n > 1}
        print(
            f"national follow-ups carrying our reference tokens: {sum(per_reference.values())} for "
            f"{len(keys)} outbox follow-ups; tokens missing: {len(keys - set(per_reference))}; "
            f"tokens posted more than once: {len(twice)} {twice or ''}"
        )
        app.db.dispose()


if __name__ == "__main__":
    main()
