"""Measure: a worker whose system clock steps two hours forward and back while it runs; do the ticks go on?

Usage: ``.venv/bin/python scripts/clock_jump.py [--step-hours 2] [--pull 5] [--push 3] [--phase 20]
[--checkout DIR] [--database sqlite|postgres]``.

The worker runs under libfaketime (``/usr/bin/faketime`` installs it): its wall clock follows a
file the script rewrites (``FAKETIME_TIMESTAMP_FILE``, re-read at every call), its monotonic clock
stays true, as with ``date -s`` or NTP's first sync. Three phases of ``--phase`` seconds: the clock
right, then ``--step-hours`` ahead (the runs of that phase are stamped in the future), then right
again. For each phase and job: ticks due (about phase / interval), runs, skipped ticks and why;
the worker's lines about the clock; ``lapor-sync status`` at the end of each phase (run with the
true clock, as an operator's shell would). ``--checkout /work/before`` runs another checkout's
worker (its ``.venv``) against the same simulator, for a comparison.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from measure_support import (
    LIBFAKETIME,
    ROOT,
    SteppedClock,
    cli,
    fresh_database,
    lapor_sync,
    measurement_parser,
    served_simulator,
    worker_env,
)
from sqlalchemy import create_engine, func
from sqlmodel import Session, col, select

from lapor_sync.storage.database import normalise_url
from lapor_sync.storage.models import SyncRun

JOBS = ("pull", "push", "reconcile")


def python_of(checkout: Path) -> str:
    """The Python of ``checkout``'s own ``.venv``: it runs that checkout's lapor-sync."""
    return str(checkout / ".venv" / "bin" / "python")


def last_run_id(session: Session) -> int:
    """The highest run id so far (0 when none)."""
    return session.exec(select(func.max(SyncRun.id))).one() or 0


def log_lines(log: Path, start: int, end: int) -> list[dict]:
    """The worker's JSON log lines between two byte offsets of its log."""
    with log.open("rb") as stream:
        stream.seek(start)
        chunk = stream.read(end - start).decode(errors="replace")
    lines = []
    for text in chunk.splitlines():
        try:
            lines.append(json.loads(text))
        except json.JSONDecodeError:
            lines.append({"message": text})
    return lines


def status_line(checkout: Path, env: dict[str, str]) -> str:
    """``lapor-sync status --json`` with the true clock: exit code, verdict and reasons."""
    result = cli(env, "status", "--json", timeout=120, python=python_of(checkout), cwd=checkout)
    try:
        summary = json.loads(result.stdout)
    except json.JSONDecodeError:
        return f"exit {result.returncode}: {result.stderr.strip()[-300:]}"
    return f"exit {result.returncode} {summary['health']}: {summary['reasons']}"


def main() -> None:
    """Run the three phases and print what the worker did in each."""
    parser = measurement_parser(__doc__)
    parser.add_argument("--step-hours", type=float, default=2.0)
    parser.add_argument("--pull", type=int, default=5)
    parser.add_argument("--push", type=int, default=3)
    parser.add_argument("--phase", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="whose worker runs (default: this one)")
    args = parser.parse_args()
    if not LIBFAKETIME.exists():
        raise SystemExit(f"needs libfaketime ({LIBFAKETIME}): apt-get install faketime")
    intervals = {"pull": args.pull, "push": args.push, "reconcile": 30}

    with fresh_database(args.database) as url, served_simulator() as served, tempfile.TemporaryDirectory() as folder:
        clock, log = SteppedClock(Path(folder) / "clock-offset"), Path(folder) / "worker.log"
        env = worker_env(
            url,
            served.base_url,
            pull_interval_seconds=args.pull,
            push_interval_seconds=args.push,
            reconcile_interval_seconds=intervals["reconcile"],
            open_case_recheck_seconds=60,
        )
        # The checkout that runs the worker makes the schema: another checkout may know other migrations.
        cli(env, "db", "upgrade", timeout=120, python=python_of(args.checkout), cwd=args.checkout).check_returncode()
        engine = create_engine(normalise_url(url))
        faked = clock.env(env)
        phases = [
            ("clock right", 0.0),
            (f"clock {args.step_hours:g} h ahead", args.step_hours),
            ("clock right again", 0.0),
        ]
        worker = subprocess.Popen(
            lapor_sync("worker", "--run-for", str(args.phase * len(phases) + 2), python=python_of(args.checkout)),
            cwd=args.checkout,
            env=faked,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        print(
            f"worker from {args.checkout}, pull every {args.pull} s, push every {args.push} s, "
            f"reconcile every {intervals['reconcile']} s; {args.phase:g} s per phase\n"
        )
        marks = []
        for name, hours in phases:
            clock.step(hours * 3600)
            with Session(engine) as session:
                marks.append((name, last_run_id(session), log.stat().st_size))
            time.sleep(args.phase)
            print(f"`status` at the end of '{name}': {status_line(args.checkout, env)}")
        code = worker.wait(timeout=120)
        with Session(engine) as session:
            marks.append(("end", last_run_id(session), log.stat().st_size))
            # The columns every checkout's schema has.
            all_runs = list(
                session.exec(
                    select(SyncRun.id, SyncRun.job, SyncRun.trigger, SyncRun.outcome, SyncRun.started_at).order_by(
                        col(SyncRun.id)
                    )
                )
            )
        print(f"\nworker exit {code}\n")

        print(f"{'phase':22} {'job':10} {'ticks due':>9} {'runs':>5}  outcomes{'':22} skipped ticks")
        for (name, first_id, first_byte), (_next, last_id, last_byte) in zip(marks, marks[1:], strict=False):
            lines = log_lines(log, first_byte, last_byte)
            for job in JOBS:
                job_runs = [
                    r
                    for r in all_runs
                    if r.job == job and r.trigger == "schedule" and first_id < (r.id or 0) <= last_id
                ]
                skips = Counter(
                    line.get("skip", "?")
                    for line in lines
                    if str(line.get("message", "")).startswith(f"skipped: {job} tick")
                )
                due = args.phase / intervals[job]
                print(
                    f"{name:22} {job:10} {due:>9.0f} {len(job_runs):>5}  "
                    f"{str(dict(Counter(r.outcome for r in job_runs))):30} {dict(skips) or '-'}"
                )
            for line in lines:
                message = str(line.get("message", ""))
                if message.startswith(("the system clock", "jobs were scheduled", "coalesced")):
                    print(f"{'':22} worker: {message}")
        stamped_ahead = [r for r in all_runs if r.started_at.timestamp() > time.time() + 600]
        print(f"\nruns stamped in the future (by the clock that was ahead): {len(stamped_ahead)}")
        print(f"`status` now: {status_line(args.checkout, env)}")
        engine.dispose()


if __name__ == "__main__":
    os.environ.setdefault("COLUMNS", "150")
    main()
