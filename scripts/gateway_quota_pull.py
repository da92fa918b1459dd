"""Measure: a first pull through the simulated SPLP gateway at its per-minute quota, waiting instead of failing.

Usage: ``.venv/bin/python scripts/gateway_quota_pull.py [--complaints 30] [--per-minute 10] [--fault-format json|xml]``.

Serves ``lapor-sync simulator --gateway splp --quota-per-minute N`` (a data set of ``--complaints``
complaints shaped like 2024's, its clock at the end of October) as a child process, then runs
``lapor-sync sync --pull-only --json`` in the ``splp_key`` mode with the gateway's production key
and ``LAPOR_SYNC_REQUESTS_PER_MINUTE`` at the same figure, all in real time. Prints the wall time,
what the run stored, how long it waited on the quota, what the gateway let through and refused,
then ``lapor-sync check invariants`` against the saved world (nothing lost, nothing duplicated).
Exits 1 when the run failed, the gateway throttled, or the check found a difference.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lapor_sync.demo.simulator_child import simulator_child
from lapor_sync.simulator import START_OF_DATA, Credentials

ROOT = Path(__file__).resolve().parent.parent
LAPOR_SYNC = str(ROOT / ".venv" / "bin" / "lapor-sync")


def main() -> int:
    """Run the measurement; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--complaints", type=int, default=30)
    parser.add_argument("--per-minute", type=int, default=10)
    parser.add_argument("--fault-format", choices=("json", "xml"), default="json")
    args = parser.parse_args()
    credentials = Credentials()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "world.json"
        options = (
            "--gateway",
            "splp",
            "--quota-per-minute",
            str(args.per_minute),
            "--gateway-faults",
            args.fault_format,
        )
        sized = ("--complaints", str(args.complaints), "--clock", "end", "--no-rate-limit", "--save-state", str(state))
        with simulator_child(*options, *sized) as child:
            key = child.admin("GET", "/_simulator/gateway")["keys"]["production"]
            env = os.environ | {
                "LAPOR_SYNC_DATABASE_URL": f"sqlite:///{Path(tmp) / 'city.db'}",
                "LAPOR_SYNC_API_BASE_URL": child.base_url,
                "LAPOR_SYNC_AUTH_MODE": "splp_key",
                "LAPOR_SYNC_API_KEY": credentials.api_key,
                "LAPOR_SYNC_API_TOKEN": credentials.app_token,
                "LAPOR_SYNC_SPLP_KEY": key,
                "LAPOR_SYNC_INSTITUTION_ID": "6271",  # Pemerintah Kota Palangka Raya, as the simulator's data set
                "LAPOR_SYNC_INITIAL_SINCE": START_OF_DATA.isoformat(),
                "LAPOR_SYNC_REQUESTS_PER_MINUTE": str(args.per_minute),
            }
            started = time.monotonic()
            sync = subprocess.run(
                [LAPOR_SYNC, "sync", "--pull-only", "--json"], env=env, capture_output=True, text=True
            )
            wall = time.monotonic() - started
            gateway = child.admin("GET", "/_simulator/gateway")
            child.save()
        run = json.loads(sync.stdout) if sync.stdout.strip() else {}
        print(
            f"pull of {args.complaints} complaints at {args.per_minute} requests a minute: {wall:.0f} s wall, exit {sync.returncode}"
        )
        print(
            json.dumps(
                {"run": run, "gateway": {k: gateway[k] for k in ("quota_per_minute", "refused", "passed")}}, indent=2
            )
        )
        if sync.returncode != 0:
            print(sync.stderr[-2000:], file=sys.stderr)
        check = subprocess.run(
            [LAPOR_SYNC, "check", "invariants", "--simulator-state", str(state)],
            env=env,
            capture_output=True,
            text=True,
        )
        print(check.stdout.strip() or check.stderr.strip())
        throttled = sum(gateway["refused"].values())
        return 0 if sync.returncode == 0 and check.returncode == 0 and not throttled else 1


if __name__ == "__main__":
    sys.exit(main())
