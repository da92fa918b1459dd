"""Measure: two ``lapor-sync worker`` processes on one database; every pull and push tick runs exactly once.

Usage: ``.venv/bin/python scripts/two_workers.py --database sqlite|postgres [--ticks 20] [--interval 2]
[--manual "resync --all"]``. Serves the simulator (its clock moving 2 h per second, so pulls find
work), lets simulated staff act every 3 s (so pushes find work), runs two workers with pull and
push every ``--interval`` seconds (the outbox watcher off, so every push is a grid tick), and
optionally a manual command half-way. Then it counts, per job, the runs of each tick, which
worker ran them, the skip lines, and any overlap of two runs of one job; and checks that no
follow-up reached the simulator twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from measure_support import (
    city_app,
    cli,
    fresh_database,
    measurement_parser,
    overlaps,
    runs,
    served_simulator,
    staff_round,
    start_worker,
    utc_now,
    worker_env,
)

from lapor_sync.scheduler.jobs import job_specs


def log_lines(path: Path) -> list[dict]:
    """The JSON lines a worker wrote (other lines, if any, skipped)."""
    lines = []
    for raw in path.read_text().splitlines():
        try:
            lines.append(json.loads(raw))
        except json.JSONDecodeError:
            continue
    return lines


def main() -> None:
    """Run the measurement and print its table."""
    parser = measurement_parser(__doc__)
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--interval", type=int, default=2)
    parser.add_argument("--manual", default=None, help='a lapor-sync command run half-way, e.g. "resync --all"')
    args = parser.parse_args()
    interval = timedelta(seconds=args.interval)

    with fresh_database(args.database) as url, served_simulator() as served, TemporaryDirectory() as logs:
        served.advance_every(1.0, timedelta(hours=2))
        app = city_app(url, served.base_url)
        app.writable_db()  # migrated once, before the workers start
        env = worker_env(
            url,
            served.base_url,
            pull_interval_seconds=args.interval,
            push_interval_seconds=args.interval,
            reconcile_interval_seconds=3600,
            outbox_watch_seconds=3600,
            lease_wait_seconds=120,
        )
        specs = {
            spec.name: spec
            for spec in job_specs(
                app.settings.model_copy(
                    update={"pull_interval_seconds": args.interval, "push_interval_seconds": args.interval}
                )
            )
        }
        launched = utc_now()
        start = launched + timedelta(seconds=4)  # the workers are up by then
        # Each job's window: its first ``ticks`` grid points after ``start`` (push's grid is offset).
        windows = {
            job: [specs[job].tick(start) + (i + 1) * interval for i in range(args.ticks)] for job in ("pull", "push")
        }
        first, last = min(w[0] for w in windows.values()), max(w[-1] for w in windows.values())
        run_for = (last - launched).total_seconds() + args.interval / 2
        paths = [Path(logs) / "worker-a.log", Path(logs) / "worker-b.log"]
        workers = [start_worker(env, path, "--run-for", f"{run_for:.1f}") for path in paths]

        stop_staff = threading.Event()

        def staff() -> None:
            while not stop_staff.wait(3):
                staff_round(app)

        threading.Thread(target=staff, daemon=True).start()

        manual = None
        if args.manual:
            time.sleep(max(0.0, (first - utc_now()).total_seconds() + args.ticks * args.interval / 2))
            began = time.monotonic()
            result = cli(env, *args.manual.split())
            manual = (result.returncode, time.monotonic() - began, (result.stderr or result.stdout).strip()[-300:])
        codes = [w.wait(timeout=run_for + 120) for w in workers]
        stop_staff.set()

        owner = {}
        skips: dict[str, Counter[str]] = {}
        for label, path in zip("AB", paths, strict=True):
            skips[label] = Counter()
            for line in log_lines(path):
                if line.get("message") == "sync run started":
                    owner[line["run_id"]] = label
                tick = line.get("tick")
                if (
                    str(line.get("message", "")).startswith("skipped: ")
                    and tick
                    and line.get("job") in windows
                    and datetime.fromisoformat(tick) in windows[line["job"]]
                ):
                    skips[label][line["job"]] += 1
        scheduled = runs(app, trigger="schedule")
        print(
            f"database {args.database}, pull and push every {args.interval} s, two workers; "
            f"window {args.ticks} ticks {first:%H:%M:%S}..{last:%H:%M:%S} UTC; worker exit codes {codes}"
        )
        print(
            f"{'job':6} {'ticks':>5} {'runs':>5} {'once':>5} {'none':>5} {'twice+':>6}  runs A/B   skip lines A/B"
            "  overlaps  outcomes"
        )
        for job, ticks in windows.items():
            in_window = [r for r in scheduled if r.job == job and specs[job].tick(r.started_at) in ticks]
            per_tick = Counter(specs[job].tick(r.started_at) for r in in_window)
            counts = [per_tick.get(t, 0) for t in ticks]
            by = Counter(owner.get(r.id, "?") for r in in_window)
            outcomes = Counter(r.outcome for r in in_window)
            print(
                f"{job:6} {len(ticks):>5} {len(in_window):>5} {counts.count(1):>5} {counts.count(0):>5} "
                f"{sum(c > 1 for c in counts):>6}  {by['A']:>4}/{by['B']:<4} {skips['A'][job]:>6}/{skips['B'][job]:<6}"
                f"  {len(overlaps([r for r in scheduled if r.job == job])):>8}  {dict(outcomes)}"
            )
        for error, n in Counter(r.error for r in scheduled if r.error).items():
            print(f"  {n} run(s) ended with: {error}")
        totals = Counter(r.job for r in scheduled)
        print(
            f"all scheduled runs (whole run, incl. outside the window): {dict(totals)}; "
            f"pulled {sum(r.created + r.updated for r in scheduled)}, pushed {sum(r.pushed for r in scheduled)}"
        )
        per_reference = served.followups_per_reference()
        print(
            f"national follow-ups by reference token: {len(per_reference)} tokens, "
            f"max {max(per_reference.values(), default=0)} per token"
        )
        if manual:
            print(f"manual `{args.manual}` half-way: exit {manual[0]} after {manual[1]:.1f} s")
            for r in runs(app):
                if r.trigger != "schedule":
                    overlapping = [
                        o.id
                        for o in scheduled
                        if o.job in ("pull", "sync")
                        and o.finished_at
                        and r.finished_at
                        and o.started_at < r.finished_at
                        and r.started_at < o.finished_at
                    ]
                    print(
                        f"  run #{r.id} {r.job} ({r.trigger}): {r.outcome}, fetched {r.fetched}, updated {r.updated},"
                        f" {(r.finished_at - r.started_at).total_seconds():.1f} s; overlapping pull runs: "
                        f"{overlapping or 'none'}{'; ' + r.error if r.error else ''}"
                    )
        lock_errors = sum("database is locked" in p.read_text() for p in paths)
        print(f"'database is locked' in worker logs: {lock_errors}")
        app.db.dispose()


if __name__ == "__main__":
    main()
