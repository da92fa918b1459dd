"""Reproduce a lost push lease with real processes: every follow-up must still reach LAPOR! exactly once.

Usage: ``.venv/bin/python scripts/lease_loss.py --database sqlite|postgres [--post-delay 2] [--followups 5]``.
Serves the simulator (its POSTs slowed by ``--post-delay`` seconds), pulls once, lets staff write
``--followups`` follow-ups, and starts ``lapor-sync sync --push-only``. While that push is in its
first slow POST, its lease is lost:

* ``sqlite``: a second ``sync --push-only`` runs under ``faketime -f +10m``, its clock ten minutes
  ahead, so the first push's lease row looks expired to it and it takes the lease;
* ``postgres``: the server session holding the first push's advisory lock is ended with
  ``pg_terminate_backend`` (as ``idle_session_timeout`` or a pooler would), then a second
  ``sync --push-only`` takes the lock.

Then it prints each run's outcome and the follow-ups the simulator holds per complaint.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from datetime import datetime

from measure_support import (
    ROOT,
    city_app,
    cli,
    end_lock_sessions,
    fresh_database,
    lapor_sync,
    measurement_parser,
    runs,
    served_simulator,
    wait_for_sending,
    worker_env,
)
from sqlmodel import col, select

from lapor_sync.app import App
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.timezones import WIB
from lapor_sync.storage.models import Case

START = datetime(2024, 1, 5, 16, 30, tzinfo=WIB)  # end of the data set's first working week
WAIT_SECONDS = 120  # the longest any step waits
PUSH = ("sync", "--push-only")


def queue_followups(app: App, count: int) -> dict[str, str]:
    """Let staff follow up the first ``count`` cases; return {reference token: tracking id}."""
    written = {}
    with app.db.session() as session:
        records = app.city_records(session)
        for case in session.exec(select(Case).order_by(col(Case.complaint_id)).limit(count)):
            item = records.act(
                case,
                AgencyAction.FOLLOWUP,
                institution_id=app.mapping.acting_institution(case.agency_code),
                content="Petugas kami sudah meninjau lokasi dan akan menindaklanjuti.",
            )
            written[item.idempotency_key] = item.tracking_id
        session.commit()
    assert len(written) == count, f"only {len(written)} cases to follow up"
    return written


def main() -> None:
    """Run the reproduction and print what happened."""
    parser = measurement_parser(__doc__)
    parser.add_argument("--post-delay", type=float, default=2.0)
    parser.add_argument("--followups", type=int, default=5)
    args = parser.parse_args()
    if args.database == "sqlite" and shutil.which("faketime") is None:
        raise SystemExit("the sqlite run needs faketime (apt-get install faketime)")

    with fresh_database(args.database) as url, served_simulator(START, post_delay=args.post_delay) as served:
        app = city_app(url, served.base_url)
        env = worker_env(url, served.base_url)
        pulled = cli(env, "sync", "--pull-only")
        assert pulled.returncode == 0, pulled.stderr
        tokens = queue_followups(app, args.followups)
        print(f"{args.database}: {len(tokens)} follow-ups queued; the simulator's POSTs take {args.post_delay} s each")

        first = subprocess.Popen(
            lapor_sync(*PUSH), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        try:
            if not wait_for_sending(app, WAIT_SECONDS):
                raise SystemExit("the first push never started sending")
            if args.database == "sqlite":
                print(
                    "first push is in its first POST; a second push starts with its clock 10 minutes ahead (faketime)"
                )
                second = cli(env, *PUSH, timeout=WAIT_SECONDS, wrapper=("faketime", "-f", "+10m"))
            else:
                print(
                    "first push is in its first POST; sessions holding its lock ended: "
                    f"{end_lock_sessions(app, 'push')}; a second push starts"
                )
                second = cli(env, *PUSH, timeout=WAIT_SECONDS)
            _, first_err = first.communicate(timeout=WAIT_SECONDS)
        finally:
            if first.poll() is None:  # a step timed out: leave no push running behind
                first.kill()
                first.wait(WAIT_SECONDS)
        print(f"exit codes: first push {first.returncode}, second push {second.returncode}")
        for line in (first_err + second.stderr).splitlines():
            if "Traceback" in line or "error" in line.lower():
                print(f"  stderr: {line[:200]}")

        for run in runs(app):
            if run.job == "push":
                print(
                    f"  run #{run.id} push by {run.holder}: {run.outcome}, pushed {run.pushed}"
                    f"{'; ' + run.error if run.error else ''}"
                )
        posted = served.followups_per_reference()
        per_complaint = Counter({f"#{tracking}": posted.get(token, 0) for token, tracking in tokens.items()})
        print(
            "follow-ups on the simulator per complaint: "
            + ", ".join(f"{tracking} {n}" for tracking, n in sorted(per_complaint.items()))
        )
        twice = sum(1 for n in per_complaint.values() if n > 1)
        missing = sum(1 for n in per_complaint.values() if n == 0)
        print(
            f"posted twice or more: {twice}; not posted: {missing}; "
            f"{'every follow-up exactly once' if not twice and not missing else 'NOT exactly once'}"
        )
        app.db.dispose()


if __name__ == "__main__":
    main()
