"""Benchmark: backfill every complaint of the data set from a fresh state, against a bare httpx walk of the same requests.

Usage: ``.venv/bin/python benchmarks/backfill.py [--database sqlite|postgres] [--complaints 2000 10000 20000 100000]
[--runs 3] [--concurrency K] [--json PATH]``.

For each size N, the simulator (``lapor-sync simulator --complaints N --clock end``: the whole
January–October 2024 period visible) runs as its own process. Each run is a pair, interleaved:
lapor-sync's first pull (``SyncService.run(push=False)``, in a child process, into a fresh SQLite
file or a fresh PostgreSQL schema dropped after), with its requests recorded by an httpx event hook
and its SQL statements counted by a ``before_cursor_execute`` listener; then, in another child, a
plain ``httpx.Client`` making exactly those requests, in the same order, with as many in flight as
lapor-sync's fetch pool (its ``fetch_concurrency`` setting, 1 where lapor-sync has none), bodies read
and discarded. ``--concurrency K`` sets lapor-sync's ``fetch_concurrency`` (the bare walk follows).

The primary figures compare the backfill with the bare walk of the same requests, each timed inside
its own process: lapor-sync's ``SyncService.run(push=False)`` (wall by ``perf_counter``, CPU by
``getrusage(RUSAGE_SELF)`` user + sys, every thread of the process, before and after the call)
against the bare walk's loop (``loop_wall_s``, ``loop_cpu_s``: client opened to closed, the same
way). Interpreter start, imports and schema creation are set-up, not the backfill: lapor-sync pays
about a second of them at N = 2,000 and the bare walk, which imports httpx alone, almost none.
Those whole-process figures (fork to reap; ``wait4`` CPU) are kept as secondary columns, named so
in the table and as ``process_*`` in the JSON (the in-run ones are ``run_*``).

What the measurement itself adds to the run is kept small: the SQL statement counter is one
``before_cursor_execute`` listener adding one under a lock, and the request recorder, an httpx
``request`` event hook, writes a GET as a short ``GET <url>`` line to the requests file (no JSON,
streamed to the file, not held, so peak RSS stays the backfill's), JSON only for a write.

Peak RSS is the lapor-sync process's; with N = 10,000 and 100,000 both measured, the table adds the
ratio of their peaks (issue 12: at most 1.25, and under 250 MB at 100,000).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

from bench_support import (
    Counters,
    Pair,
    city_app,
    fmt,
    interleaved_pairs,
    print_table,
    simulator_process,
    summaries,
    write_json,
)

HERE = Path(__file__).resolve()
SIZES = (2_000, 10_000, 20_000, 100_000)
RSS_SIZES = (10_000, 100_000)
"""The sizes whose peak RSS issue 12 compares: the peak at the larger at most 1.25 times the smaller's."""


def lapor_child(database_url: str, base_url: str, concurrency: int | None, requests_file: Path, out: Path) -> None:
    """Backfill in this process; record its requests to ``requests_file``, its counts and fetch concurrency to ``out``."""
    from sqlmodel import func, select

    from lapor_sync.storage.models import Binding

    settings = {"fetch_concurrency": concurrency} if concurrency is not None else {}
    app = city_app(database_url, base_url, **settings)
    counters = Counters(record_to=requests_file)
    app.writable_db()  # migrations are set-up, not backfill: counted before the mark
    with app.platform() as platform:
        counters.attach(app, platform)
        requests0, statements0 = counters.mark()
        wall0, usage0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        run = app.sync_service(platform).run(push=False)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.perf_counter() - wall0
    counters.close()
    with app.db.session() as session:
        stored = session.exec(select(func.count()).select_from(Binding)).one()
    out.write_text(
        json.dumps(
            {
                "outcome": run.outcome,
                "complaints": stored,
                "concurrency": getattr(app.settings, "fetch_concurrency", 1),
                "requests": counters.request_count - requests0,
                "statements": counters.statements - statements0,
                "run_wall_s": wall,
                "run_cpu_s": usage.ru_utime + usage.ru_stime - usage0.ru_utime - usage0.ru_stime,
            }
        )
    )


def measure(args: argparse.Namespace, size: int) -> dict[str, Any]:
    """Serve N = ``size`` complaints and run the interleaved pairs against it; return the size's figures."""

    def progress(i: int, pair: Pair) -> None:
        lapor, bare = pair.lapor, pair.bare
        print(
            f"N = {size:,}, run {i + 1}: lapor-sync run {lapor.counts['run_wall_s']:.2f} s, "
            f"{lapor.counts['run_cpu_s']:.2f} CPU-s (process {lapor.wall:.1f} s; {lapor.counts['outcome']}, "
            f"{lapor.counts['complaints']} complaints, {lapor.rss_mb:.0f} MB), "
            f"bare walk loop {bare.counts['loop_wall_s']:.2f} s, {bare.counts['loop_cpu_s']:.2f} CPU-s "
            f"(process {bare.wall:.1f} s; concurrency {bare.counts['concurrency']}, statuses {bare.counts['statuses']})",
            flush=True,
        )

    with simulator_process("--clock", "end", complaints=size) as base_url:
        child = [str(HERE), "--role", "lapor", "--base-url", base_url]
        if args.concurrency is not None:
            child += ["--concurrency", str(args.concurrency)]
        pairs = interleaved_pairs(args.runs, args.database, child, on_run=progress)
    lapor_runs, bare_runs = [p.lapor for p in pairs], [p.bare for p in pairs]
    n = lapor_runs[0].counts["complaints"]
    return {
        "complaints": n,
        "concurrency": bare_runs[0].counts["concurrency"],
        "lapor_sync": summaries(
            lapor_runs,
            run_wall_s=lambda r: r.counts["run_wall_s"],
            run_cpu_s=lambda r: r.counts["run_cpu_s"],
            run_cpu_s_per_1000=lambda r: r.counts["run_cpu_s"] * 1000 / r.counts["complaints"],
            process_wall_s=lambda r: r.wall,
            process_cpu_s=lambda r: r.cpu,
            peak_rss_mb=lambda r: r.rss_mb,
            requests=lambda r: r.counts["requests"],
            statements=lambda r: r.counts["statements"],
            statements_per_complaint=lambda r: r.counts["statements"] / r.counts["complaints"],
        ),
        "bare_walk": summaries(
            bare_runs,
            run_wall_s=lambda r: r.counts["loop_wall_s"],
            run_cpu_s=lambda r: r.counts["loop_cpu_s"],
            run_cpu_s_per_1000=lambda r: r.counts["loop_cpu_s"] * 1000 / n,
            process_wall_s=lambda r: r.wall,
            process_cpu_s=lambda r: r.cpu,
            peak_rss_mb=lambda r: r.rss_mb,
            requests=lambda r: r.counts["requests"],
        ),
        "ratio": summaries(
            pairs,
            run_wall=lambda p: p.lapor.counts["run_wall_s"] / p.bare.counts["loop_wall_s"],
            run_cpu=lambda p: p.lapor.counts["run_cpu_s"] / p.bare.counts["loop_cpu_s"],
            process_wall=lambda p: p.lapor.wall / p.bare.wall,
            process_cpu=lambda p: p.lapor.cpu / p.bare.cpu,
        ),
    }


def print_size(database: str, runs: int, figures: dict[str, Any]) -> None:
    """Print one size's table."""
    ls, bare, ratio = figures["lapor_sync"], figures["bare_walk"], figures["ratio"]
    print(
        f"\nBackfill of N = {figures['complaints']:,} complaints, {database}, fetch concurrency "
        f"{figures['concurrency']}, median (min–max) of {runs} interleaved runs\n"
    )
    print_table(
        ("", f"lapor-sync {database}", "bare httpx walk, same requests, same concurrency", "ratio"),
        [
            (
                "wall of the run / the walk's loop, s",
                fmt(ls["run_wall_s"]),
                fmt(bare["run_wall_s"]),
                fmt(ratio["run_wall"]),
            ),
            (
                "CPU (user+sys) of the run / the loop, s",
                fmt(ls["run_cpu_s"]),
                fmt(bare["run_cpu_s"]),
                fmt(ratio["run_cpu"]),
            ),
            ("CPU per 1,000 complaints, s", fmt(ls["run_cpu_s_per_1000"]), fmt(bare["run_cpu_s_per_1000"]), ""),
            (
                "whole process: wall, s",
                fmt(ls["process_wall_s"]),
                fmt(bare["process_wall_s"]),
                fmt(ratio["process_wall"]),
            ),
            ("whole process: CPU, s", fmt(ls["process_cpu_s"]), fmt(bare["process_cpu_s"]), fmt(ratio["process_cpu"])),
            ("HTTP requests", fmt(ls["requests"], 0), fmt(bare["requests"], 0), ""),
            ("SQL statements", fmt(ls["statements"], 0), "—", ""),
            ("SQL statements per complaint", fmt(ls["statements_per_complaint"]), "—", ""),
            ("peak RSS, MB", fmt(ls["peak_rss_mb"], 0), fmt(bare["peak_rss_mb"], 0), ""),
        ],
    )


def rss_growth(sizes: dict[int, dict[str, Any]]) -> dict[str, float] | None:
    """The lapor-sync process's median peak RSS at N = 10,000 and 100,000 and their ratio, when both ran."""
    if not all(n in sizes for n in RSS_SIZES):
        return None
    small, large = (sizes[n]["lapor_sync"]["peak_rss_mb"]["median"] for n in RSS_SIZES)
    return {"peak_rss_mb_10000": small, "peak_rss_mb_100000": large, "ratio": large / small}


def main() -> None:
    """Run the interleaved pairs at each size and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--complaints", type=int, nargs="+", default=list(SIZES), help="the sizes N to measure")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, help="lapor-sync's fetch_concurrency (default: its own)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--role", choices=("lapor",), help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--requests-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "lapor":
        return lapor_child(args.database_url, args.base_url, args.concurrency, args.requests_file, args.out)

    sizes = {size: measure(args, size) for size in args.complaints}
    for figures in sizes.values():
        print_size(args.database, args.runs, figures)
    growth = rss_growth(sizes)
    if growth is not None:
        print(
            f"\nPeak RSS of lapor-sync, median: {growth['peak_rss_mb_10000']:.0f} MB at N = 10,000, "
            f"{growth['peak_rss_mb_100000']:.0f} MB at N = 100,000: ratio {growth['ratio']:.2f} "
            "(target: at most 1.25, and under 250 MB)"
        )
    result = {
        "database": args.database,
        "runs": args.runs,
        "sizes": {str(n): figures for n, figures in sizes.items()},
        "peak_rss_growth": growth,
    }
    print(f"\nJSON: {write_json(args.json, f'backfill-{args.database}', result)}")
    return None


if __name__ == "__main__":
    main()
