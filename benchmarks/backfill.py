"""Benchmark: backfill every complaint of the data set from a fresh state, against a bare httpx walk of the same requests.

Usage: ``.venv/bin/python benchmarks/backfill.py [--database sqlite|postgres] [--runs 3] [--json PATH]``.

The simulator (``lapor-sync simulator --clock end``: the whole 2024 data set visible) runs as its own
process. Each run is a pair, interleaved: lapor-sync's first pull (``SyncService.run(push=False)``,
in a child process, into a fresh SQLite file or a fresh PostgreSQL schema dropped after), with its
requests recorded by an httpx event hook and its SQL statements counted by a
``before_cursor_execute`` listener; then, in another child, a plain ``httpx.Client`` making exactly
those requests, in the same order, one at a time as lapor-sync does (bodies read, discarded).

The simulator generates one fixed data set (seed 2024) and has no size option: N is the number of
complaints that data set holds for the city (about 2,000). Larger N (20,000, 100,000) need a
generator option the simulator does not have yet.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench_support import (
    BARE_WALK,
    Counters,
    city_app,
    fmt,
    fresh_database,
    print_table,
    run_child,
    simulator_process,
    summary,
    write_json,
    write_requests,
)

HERE = Path(__file__).resolve()


def lapor_child(database_url: str, base_url: str, out: Path) -> None:
    """Backfill in this process and write the counts and the request list to ``out``."""
    from sqlmodel import func, select

    from lapor_sync.storage.models import Binding

    app = city_app(database_url, base_url)
    counters = Counters()
    app.writable_db()  # migrations are set-up, not backfill: counted before the mark
    with app.platform() as platform:
        counters.attach(app, platform)
        requests0, statements0 = counters.mark()
        run = app.sync_service(platform).run(push=False)
    with app.db.session() as session:
        stored = session.exec(select(func.count()).select_from(Binding)).one()
    out.write_text(
        json.dumps(
            {
                "outcome": run.outcome,
                "complaints": stored,
                "requests": len(counters.requests) - requests0,
                "statements": counters.statements - statements0,
                "request_list": counters.requests[requests0:],
            }
        )
    )


def main() -> None:
    """Run the interleaved pairs and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--role", choices=("lapor",), help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "lapor":
        return lapor_child(args.database_url, args.base_url, args.out)

    lapor_runs, bare_runs = [], []
    with simulator_process("--clock", "end") as base_url, tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            lapor_out, bare_out = Path(tmp) / f"lapor{i}.json", Path(tmp) / f"bare{i}.json"
            with fresh_database(args.database) as url:
                lapor_runs.append(
                    run_child([str(HERE), "--role", "lapor", "--database-url", url, "--base-url", base_url], lapor_out)
                )
            lapor = lapor_runs[-1]
            walk = write_requests(Path(tmp) / f"walk{i}.json", lapor.counts.pop("request_list"))
            bare_runs.append(run_child([BARE_WALK, str(walk)], bare_out))
            print(
                f"run {i + 1}: lapor-sync {lapor.wall:.1f} s ({lapor.counts['outcome']}, "
                f"{lapor.counts['complaints']} complaints), bare walk {bare_runs[-1].wall:.1f} s",
                flush=True,
            )

    n = lapor_runs[0].counts["complaints"]
    result = {
        "database": args.database,
        "complaints": n,
        "runs": args.runs,
        "lapor_sync": {
            "wall_s": summary([r.wall for r in lapor_runs]),
            "cpu_s": summary([r.cpu for r in lapor_runs]),
            "cpu_s_per_1000": summary([r.cpu * 1000 / r.counts["complaints"] for r in lapor_runs]),
            "peak_rss_mb": summary([r.rss_mb for r in lapor_runs]),
            "requests": summary([r.counts["requests"] for r in lapor_runs]),
            "statements": summary([r.counts["statements"] for r in lapor_runs]),
            "statements_per_complaint": summary([r.counts["statements"] / r.counts["complaints"] for r in lapor_runs]),
        },
        "bare_walk": {
            "wall_s": summary([r.wall for r in bare_runs]),
            "cpu_s": summary([r.cpu for r in bare_runs]),
            "cpu_s_per_1000": summary([r.cpu * 1000 / n for r in bare_runs]),
            "peak_rss_mb": summary([r.rss_mb for r in bare_runs]),
            "requests": summary([r.counts["requests"] for r in bare_runs]),
        },
        "ratio": {
            "wall": summary([a.wall / b.wall for a, b in zip(lapor_runs, bare_runs, strict=True)]),
            "cpu": summary([a.cpu / b.cpu for a, b in zip(lapor_runs, bare_runs, strict=True)]),
        },
    }
    ls, bare, ratio = result["lapor_sync"], result["bare_walk"], result["ratio"]
    print(f"\nBackfill of N = {n:,} complaints, {args.database}, median (min–max) of {args.runs} interleaved runs\n")
    print_table(
        ("", f"lapor-sync {args.database}", "bare httpx walk, same requests", "ratio"),
        [
            ("wall, s", fmt(ls["wall_s"]), fmt(bare["wall_s"]), fmt(ratio["wall"])),
            ("CPU (user+sys), s", fmt(ls["cpu_s"]), fmt(bare["cpu_s"]), fmt(ratio["cpu"])),
            ("CPU per 1,000 complaints, s", fmt(ls["cpu_s_per_1000"]), fmt(bare["cpu_s_per_1000"]), ""),
            ("HTTP requests", fmt(ls["requests"], 0), fmt(bare["requests"], 0), ""),
            ("SQL statements", fmt(ls["statements"], 0), "—", ""),
            ("SQL statements per complaint", fmt(ls["statements_per_complaint"]), "—", ""),
            ("peak RSS, MB", fmt(ls["peak_rss_mb"], 0), fmt(bare["peak_rss_mb"], 0), ""),
        ],
    )
    print(f"\nJSON: {write_json(args.json, f'backfill-{args.database}', result)}")
    return None


if __name__ == "__main__":
    main()
