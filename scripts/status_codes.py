"""Measure: ``lapor-sync status`` exits 0 healthy, 1 degraded (stale pull), 2 failing (simulator down).

Usage: ``.venv/bin/python scripts/status_codes.py``. A simulator with one Dinas Sosial complaint;
``sync``, then ``status`` (healthy); then ``status`` with a 3-second "stale pull" threshold after
4 seconds (degraded); then the simulator stops, ``sync`` fails, and ``status`` says failing.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

from measure_support import cli, fresh_database, worker_env

from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.timezones import WIB
from lapor_sync.simulator import Simulator
from lapor_sync.simulator.catalog import category_id
from lapor_sync.simulator.model import Counters
from lapor_sync.simulator.world import World


def show(label: str, env: dict[str, str]) -> None:
    """Run ``status --json`` and print its exit code, verdict and reasons."""
    result = cli(env, "status", "--json")
    summary = json.loads(result.stdout)
    print(f"{label:32} exit {result.returncode}  {summary['health']:9} reasons: {summary['reasons']}")


def main() -> None:
    """Run the three cases."""
    world = World(ManualClock(datetime(2024, 1, 2, 9, 0, tzinfo=WIB)), [], Counters(), reply_rate=0.0)
    world.add_complaint(disposition_id=627104, category_id=category_id("Sosial dan Kesejahteraan"))
    with fresh_database("sqlite") as url:
        with Simulator(world, rate_limit=None).serve() as base_url:
            env = worker_env(url, base_url, initial_since="2024-01-01T00:00:00+07:00")
            synced = cli(env, "sync", "--json")
            print(f"sync: exit {synced.returncode}, created {json.loads(synced.stdout)['created']}")
            show("healthy (just synced)", env)
            time.sleep(4)
            show("stale pull (threshold 3 s)", env | {"LAPOR_SYNC_STATUS_PULL_DEGRADED_SECONDS": "3"})
        began = time.monotonic()
        failed = cli(env, "sync", "--json")
        run = json.loads(failed.stdout)
        print(
            f"sync with the simulator down: exit {failed.returncode} after {time.monotonic() - began:.1f} s, "
            f"run #{run['run_id']} {run['outcome']}"
        )
        show("failing (simulator down)", env)


if __name__ == "__main__":
    main()
