"""Where ``lapor-sync demo``'s time goes: CPU by thread and by phase, requests by phase and endpoint.

Usage: ``.venv/bin/python benchmarks/demo_split.py [--json PATH]``.

Runs the demo in this process (``run_demo`` in a temp folder, as ``lapor-sync demo`` does without its
progress line; the simulator is its child process, as there) and attributes its time:

- CPU per thread, read from ``/proc/self/task/*/stat`` every 0.2 s: the main thread (lapor-sync and
  the simulated staff), the fetch and push pools; and the simulator child's CPU (uvicorn serving the
  simulated platform), from ``getrusage(RUSAGE_CHILDREN)`` once the demo has reaped it;
- the main thread's CPU (``time.thread_time``) and wall per phase: the pulls and pushes
  (``SyncService.run`` with ``push=False`` / ``pull=False``), the staff rounds
  (``SimulatedStaff.work``), the simulator's clock moves (``SimulatorChild.advance_to``, waiting on the
  child); the rest of the
  main thread is the set-up (generating the data set, drawing the plan) and the checks (tallies,
  saving the simulator's state);
- HTTP requests per phase and endpoint (a wrapper around ``httpx.Client.send``), and SQL statements
  per phase (a ``before_cursor_execute`` listener on every SQLAlchemy engine).

A measurement, not a test: one run; the figures are only as steady as the machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import resource
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench_support import print_table, write_json


class ThreadCpu:
    """Samples every thread's CPU seconds (user + sys) from ``/proc/self/task``, by thread name."""

    def __init__(self) -> None:
        self.by_thread: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def _run(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        while not self._stop.wait(0.2):
            self.sample(tick)

    def sample(self, tick: int) -> None:
        """Record each live thread's CPU so far (a thread that ended keeps its last sample)."""
        names = {t.native_id: t.name for t in threading.enumerate()}
        for tid in os.listdir("/proc/self/task"):
            try:
                fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended between the listing and the read
            name = re.sub(r"-\d+$|\s*\(.*\)$", "", names.get(int(tid), "other"))
            self.by_thread[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / tick)

    @contextmanager
    def running(self) -> Iterator[None]:
        """Sample while the block runs, and once more at its end."""
        self._sampler.start()
        try:
            yield
        finally:
            self._stop.set()
            self._sampler.join()
            self.sample(os.sysconf("SC_CLK_TCK"))

    def totals(self) -> dict[str, float]:
        """CPU seconds by thread name (threads of one name summed)."""
        totals: Counter[str] = Counter()
        for name, seconds in self.by_thread.values():
            totals[name] += seconds
        return dict(totals)


class Phases:
    """Main-thread CPU and wall per phase, and requests per phase and endpoint."""

    def __init__(self) -> None:
        self.current = "set-up and checks"
        self.cpu: Counter[str] = Counter()
        self.wall: Counter[str] = Counter()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.statements: Counter[str] = Counter()

    def wrap(self, owner: type, name: str, phase_of: Callable[[dict[str, Any]], str]) -> None:
        """Replace ``owner.name`` by a wrapper that books its time under ``phase_of(kwargs)``."""
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            outer, self.current = self.current, phase_of(kwargs)
            wall0, cpu0 = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.wall[self.current] += time.perf_counter() - wall0
                self.cpu[self.current] += time.thread_time() - cpu0
                self.current = outer

        setattr(owner, name, timed)

    def count_requests(self) -> None:
        """Count every request an ``httpx.Client`` sends, by phase and endpoint (ids as ``{id}``)."""
        import httpx

        send = httpx.Client.send

        def counted(client: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
            endpoint = re.sub(r"/\d+(?=/|$)", "/{id}", request.url.path)
            self.requests[(self.current, f"{request.method} {endpoint}")] += 1
            return send(client, request, **kwargs)

        httpx.Client.send = counted  # type: ignore[method-assign]

    def count_statements(self) -> None:
        """Count every SQL statement any engine runs, by phase (the simulator runs none)."""
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        def counted(*_: Any) -> None:
            self.statements[self.current] += 1

        event.listen(Engine, "before_cursor_execute", counted)


def children_cpu() -> float:
    """CPU seconds (user + sys) of this process's children reaped so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    """Run the demo once, attributed, and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    logging.getLogger("lapor_sync").setLevel(logging.ERROR)  # as `lapor-sync demo` does without --verbose

    from lapor_sync.demo import runner
    from lapor_sync.sync.service import SyncService

    phases, threads = Phases(), ThreadCpu()
    phases.wrap(SyncService, "run", lambda kw: "push" if kw.get("pull") is False else "pull")
    phases.wrap(runner.SimulatedStaff, "work", lambda _: "staff rounds")
    phases.wrap(runner.SimulatorChild, "advance_to", lambda _: "simulator clock moves")
    phases.count_requests()
    phases.count_statements()
    wall0, cpu0, child0 = time.perf_counter(), time.process_time(), children_cpu()
    with tempfile.TemporaryDirectory() as folder, threads.running():
        result = runner.run_demo(Path(folder) / "demo")
    wall, own_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    simulator_cpu = children_cpu() - child0  # the simulator child, reaped by run_demo
    cpu = own_cpu + simulator_cpu
    by_thread = threads.totals()
    main_cpu = by_thread.get("MainThread", 0.0)
    phases.cpu["set-up and checks"] = main_cpu - sum(v for k, v in phases.cpu.items() if k != "set-up and checks")
    requests: Counter[str] = Counter()
    for (phase, _), count in phases.requests.items():
        requests[phase] += count

    print(
        f"\n`lapor-sync demo`: wall {wall:.1f} s, CPU {cpu:.1f} s (lapor-sync {own_cpu:.1f} s, simulator child "
        f"{simulator_cpu:.1f} s), tallies match: {result.matches}\n"
    )
    rows = [(name, f"{seconds:.1f}") for name, seconds in sorted(by_thread.items())]
    print_table(("thread", "CPU, s"), [*rows, ("simulator (child process)", f"{simulator_cpu:.1f}")])
    print()
    print_table(
        ("main thread phase", "CPU, s", "wall, s", "HTTP requests", "SQL statements"),
        [
            (
                phase,
                f"{phases.cpu[phase]:.1f}",
                f"{phases.wall[phase]:.1f}" if phase in phases.wall else "",
                str(requests[phase]),
                str(phases.statements[phase]),
            )
            for phase in sorted(phases.cpu)
        ],
    )
    print()
    print_table(
        ("phase", "endpoint", "requests"),
        [(phase, endpoint, str(count)) for (phase, endpoint), count in sorted(phases.requests.items())],
    )
    figures = {
        "wall_s": wall,
        "cpu_s": cpu,
        "lapor_sync_cpu_s": own_cpu,
        "simulator_child_cpu_s": simulator_cpu,
        "matches": result.matches,
        "cpu_s_by_thread": by_thread,
        "main_thread_cpu_s_by_phase": dict(phases.cpu),
        "wall_s_by_phase": dict(phases.wall),
        "sql_statements_by_phase": dict(phases.statements),
        "requests_by_phase_and_endpoint": {f"{p} {e}": n for (p, e), n in sorted(phases.requests.items())},
    }
    print(f"\nJSON: {write_json(args.json, 'demo-split', figures)}")


if __name__ == "__main__":
    main()
