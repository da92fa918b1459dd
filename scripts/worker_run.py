"""Measure: a worker with short intervals against the simulator for a few minutes; did each job run on time?

Usage: ``.venv/bin/python scripts/worker_run.py [--minutes 2.5] [--pull 10] [--push 5] [--reconcile 30]``.
Serves the 2024 data set from 1 January (its clock moving one day every 5 s, so complaints keep
arriving), lets simulated staff act every 20 s (so the outbox fills), and runs one worker. Prints
/healthz and some /metrics half-way, then per job: runs, ticks missed, how late each started
after its tick, pushes started early by the outbox watcher; then `runs` and `status`.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
from measure_support import (
    city_app,
    cli,
    fresh_database,
    measurement_parser,
    runs,
    served_simulator,
    staff_round,
    start_worker,
    utc_now,
    worker_env,
)

from lapor_sync.scheduler.jobs import job_specs


def free_port() -> int:
    """A free loopback port for the worker's health endpoints."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    """Run the measurement and print its tables."""
    parser = measurement_parser(__doc__)
    parser.add_argument("--minutes", type=float, default=2.5)
    parser.add_argument("--pull", type=int, default=10)
    parser.add_argument("--push", type=int, default=5)
    parser.add_argument("--reconcile", type=int, default=30)
    args = parser.parse_args()
    seconds, port = args.minutes * 60, free_port()

    with fresh_database(args.database) as url, served_simulator() as served, TemporaryDirectory() as logs:
        served.advance_every(5.0, timedelta(days=1))
        app = city_app(url, served.base_url)
        app.writable_db()
        settings = {
            "pull_interval_seconds": args.pull,
            "push_interval_seconds": args.push,
            "reconcile_interval_seconds": args.reconcile,
            "open_case_recheck_seconds": 60,
            "health_port": port,
        }
        env = worker_env(url, served.base_url, **settings)
        began = utc_now()
        worker = start_worker(env, Path(logs) / "worker.log", "--run-for", str(seconds))
        stop_staff = threading.Event()

        def staff() -> None:
            while not stop_staff.wait(20):
                staff_round(app)

        threading.Thread(target=staff, daemon=True).start()

        time.sleep(seconds / 2)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        body = health.json()
        print(f"half-way /healthz: HTTP {health.status_code} status={body['status']} reasons={body['reasons']}")
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        for line in metrics.splitlines():
            if line.startswith(
                (
                    "lapor_sync_runs_total",
                    "lapor_sync_complaints_pulled_total",
                    "lapor_sync_outbox_delivered_total",
                    "lapor_sync_lag_seconds",
                    "lapor_sync_outbox_pending",
                    "lapor_sync_health",
                )
            ):
                print("  " + line)
        code = worker.wait(timeout=seconds + 60)
        stop_staff.set()
        ended = utc_now()

        specs = {s.name: s for s in job_specs(app.settings.model_copy(update=settings))}
        print(f"\nworker exit {code}; ran {(ended - began).total_seconds():.0f} s")
        print(
            f"{'job':10} {'interval':>8} {'ticks':>5} {'ran':>4} {'missed':>6} {'late avg/max s':>15}"
            f" {'early (watcher)':>15}  outcomes"
        )
        all_runs = runs(app, trigger="schedule")
        for job in ("pull", "push", "reconcile"):
            spec = specs[job]
            first = spec.tick(began) + spec.period
            ticks = []
            while first + len(ticks) * spec.period < ended - timedelta(seconds=1):
                ticks.append(first + len(ticks) * spec.period)
            job_runs = [r for r in all_runs if r.job == job]
            on_tick = {
                spec.tick(r.started_at): r
                for r in job_runs
                if (r.started_at - spec.tick(r.started_at)).total_seconds() < 1
            }
            early = len(job_runs) - len(on_tick)
            late = [(on_tick[t].started_at - t).total_seconds() for t in ticks if t in on_tick]
            print(
                f"{job:10} {spec.period.total_seconds():>7.0f}s {len(ticks):>5} {len(late):>4} "
                f"{len(ticks) - len(late):>6} {statistics.mean(late or [0]):>7.3f}/{max(late or [0]):<7.3f}"
                f" {early:>15}  {dict(Counter(r.outcome for r in job_runs))}"
            )
        totals = Counter()
        for r in all_runs:
            totals.update(created=r.created, updated=r.updated, pushed=r.pushed, failed=r.failed)
        print(f"totals: {dict(totals)}")
        for r in all_runs:
            if r.outcome != "ok":
                print(f"  run #{r.id} {r.job}: {r.outcome}: {r.error}")
        print("\n`lapor-sync runs --limit 8`:\n" + cli(env | {"COLUMNS": "150"}, "runs", "--limit", "8").stdout)
        status = cli(env, "status")
        print(f"`lapor-sync status`: exit {status.returncode}")
        app.db.dispose()


if __name__ == "__main__":
    main()
