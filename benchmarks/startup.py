"""Benchmark: how long lapor-sync commands take as whole processes: ``--help``, ``case followup --help``, the demo.

Usage: ``.venv/bin/python benchmarks/startup.py [--runs 10] [--demo-runs 0] [--json PATH]``.

Each command is run as ``python -c "from lapor_sync.cli.app import main; main()" ...`` (what the
``lapor-sync`` console script does), one warm-up each, then the commands in turn (A B A B ...),
each timed from the fork to the reap, with CPU (user + sys) from the kernel (``wait4``) and peak RSS
from GNU time (see ``bench_support.spawn_timed``).
``--demo-runs N`` also times ``lapor-sync demo`` N times (a minute or more each at the baseline; in a
temp directory; exit code 0 means its tallies matched 1,983 / 1,924 / 11 / 48).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench_support import ROOT, fmt, lapor_sync, print_table, spawn_timed, summary, write_json

COMMANDS = {
    "lapor-sync --help": ("--help",),
    "lapor-sync case followup --help": ("case", "followup", "--help"),
}


def main() -> None:
    """Time the commands and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--demo-runs", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    commands = {name: lapor_sync(*argv) for name, argv in COMMANDS.items()}
    figures: dict[str, list[tuple[float, float, float, int]]] = {name: [] for name in commands}
    for command in commands.values():
        spawn_timed(command, ROOT)  # warm-up: the page cache and .pyc files
    for _ in range(args.runs):
        for name, command in commands.items():
            figures[name].append(spawn_timed(command, ROOT))
    for _ in range(args.demo_runs):
        with tempfile.TemporaryDirectory() as folder:
            figures.setdefault("lapor-sync demo", []).append(spawn_timed(lapor_sync("demo"), Path(folder)))
        print(f"demo: {figures['lapor-sync demo'][-1][0]:.1f} s", flush=True)

    result = {
        name: {
            "runs": len(runs),
            "exit_codes": sorted({r[3] for r in runs}),
            "wall_s": summary([r[0] for r in runs]),
            "cpu_s": summary([r[1] for r in runs]),
            "peak_rss_mb": summary([r[2] for r in runs]),
        }
        for name, runs in figures.items()
    }
    print("\nWhole-process figures, median (min–max)\n")
    print_table(
        ("command", "runs", "exit", "wall, s", "CPU, s", "peak RSS, MB"),
        [
            (
                name,
                str(f["runs"]),
                ",".join(map(str, f["exit_codes"])),
                fmt(f["wall_s"]),
                fmt(f["cpu_s"]),
                fmt(f["peak_rss_mb"], 0),
            )
            for name, f in result.items()
        ],
    )
    print(f"\nJSON: {write_json(args.json, 'startup', {'commands': result})}")


if __name__ == "__main__":
    main()
