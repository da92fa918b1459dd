"""Benchmark: push K queued follow-ups to the simulator, against a bare POST loop of the same requests.

Usage: ``.venv/bin/python benchmarks/push.py [--database sqlite|postgres] [--followups 5000] [--runs 3]
[--concurrency N] [--json PATH]``.

The simulator (``--clock end``) runs as its own process. Each run, in a child process on a fresh
database: a backfill (not measured), then K follow-ups queued round-robin on the open cases, as
``lapor-sync case followup`` queues them (``BuiltinCityRecords.act``, one transaction each; not
measured), then one push (``SyncService.run(pull=False)``), measured alone: wall (``perf_counter``),
CPU (``getrusage`` of the process, user + sys), HTTP requests (an httpx event hook), SQL statements
(``before_cursor_execute``). Then, in a process of its own (this script, importing httpx alone),
the same requests are made with a plain ``httpx.Client`` shared by ``--concurrency`` threads, as
many as lapor-sync's deliveries in flight (``push_concurrency``, default the setting's default),
each thread taking the next request; its loop is timed the same way.
Runs are interleaved (lapor-sync, bare, lapor-sync, ...). Each run adds K follow-ups to the
simulator's world (twice: the bare loop posts them again); the simulator is not restarted.

Like with like: both sides are timed around their loop alone, in their own process (lapor-sync's
start, backfill and queueing are outside its timing, as the bare child's start, import and file
read are outside its own), with the same requests against the same simulator process at the same
concurrency. The measuring hooks stay in lapor-sync's timed push: the statement counter is an
increment under a lock, and the request recorder keeps each request's method, URL and (already
buffered) body; pushes of 5,000 with and without them, interleaved on a loaded machine, took
10.7 and 10.8 s CPU, then 10.8 and 11.5 s: their cost is within the noise between runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve()
DEFAULT_CONCURRENCY = 4
"""``Settings.push_concurrency``'s default (checked in :func:`main`, which may import lapor-sync)."""


def cpu_seconds() -> float:
    """This process's CPU time so far, user + sys, seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bare_child(walk: Path, concurrency: int, out: Path) -> None:
    """The raw limit: make the recorded requests on ``concurrency`` threads sharing one plain ``httpx.Client``.

    Each thread takes the next request until none is left; bodies are read and discarded. Writes the
    loop's wall and CPU (user + sys) seconds, the request count and the statuses to ``out``.
    """
    import httpx  # here: the bare child imports nothing of lapor-sync

    # write_requests' JSON lines: the headers first, then one request a line
    headers, *recorded = (json.loads(line) for line in walk.read_text().splitlines())
    requests = iter(recorded)
    taking, statuses = threading.Lock(), Counter[str]()

    def lane(http: httpx.Client) -> None:
        for _ in range(len(recorded)):
            with taking:
                request = next(requests, None)
            if request is None:
                return
            method, url, body, content_type = request
            headers = {"Content-Type": content_type} if content_type else None
            response = http.request(method, url, content=body.encode("latin-1") if body else None, headers=headers)
            response.read()
            with taking:
                statuses[str(response.status_code)] += 1

    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    with httpx.Client(headers=headers["headers"], timeout=30) as http:
        lanes = [threading.Thread(target=lane, args=(http,)) for _ in range(concurrency)]
        for thread in lanes:
            thread.start()
        for thread in lanes:
            thread.join()
    loop = {"loop_wall_s": time.perf_counter() - wall0, "loop_cpu_s": cpu_seconds() - cpu0}
    out.write_text(json.dumps({"requests": len(recorded), "statuses": dict(statuses), **loop}))


def lapor_child(database_url: str, base_url: str, followups: int, concurrency: int, out: Path) -> None:
    """Backfill, queue ``followups`` follow-ups, push them ``concurrency`` at once, write the push's figures to ``out``."""
    from bench_support import Counters, city_app, queue_followups

    app = city_app(database_url, base_url, push_concurrency=concurrency)
    counters = Counters()
    with app.platform() as platform:
        service = app.sync_service(platform)
        service.run(push=False)
        open_cases = queue_followups(app, followups)
        counters.attach(app, platform)
        wall0, cpu0 = time.perf_counter(), cpu_seconds()
        run = service.run(pull=False)
        wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    out.write_text(
        json.dumps(
            {
                "outcome": run.outcome,
                "pushed": run.pushed,
                "open_cases": open_cases,
                "push_wall_s": wall,
                "push_cpu_s": cpu,
                "requests": len(counters.requests),
                "statements": counters.statements,
                "request_list": counters.requests,
            }
        )
    )


def main() -> None:
    """Run the role asked for (a measured child), or the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--followups", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--role", choices=("lapor", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--walk", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "lapor":
        return lapor_child(args.database_url, args.base_url, args.followups, args.concurrency, args.out)
    if args.role == "bare":
        return bare_child(args.walk, args.concurrency, args.out)
    return compare(args)


def compare(args: argparse.Namespace) -> None:
    """Run the interleaved pairs (lapor-sync, then the bare loop, at the same concurrency) and print the table."""
    from bench_support import (
        fmt,
        fresh_database,
        print_table,
        run_child,
        simulator_process,
        summary,
        write_json,
        write_requests,
    )

    from lapor_sync.config.settings import Settings

    assert Settings.model_fields["push_concurrency"].default == DEFAULT_CONCURRENCY, "update DEFAULT_CONCURRENCY"
    lanes = ["--concurrency", str(args.concurrency)]

    lapor_runs, bare_runs = [], []
    with simulator_process("--clock", "end") as base_url, tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            lapor_out, bare_out = Path(tmp) / f"lapor{i}.json", Path(tmp) / f"bare{i}.json"
            with fresh_database(args.database) as url:
                child = [str(HERE), "--role", "lapor", "--database-url", url, "--base-url", base_url, *lanes]
                lapor = run_child([*child, "--followups", str(args.followups)], lapor_out).counts
            walk = write_requests(Path(tmp) / f"walk{i}.json", lapor.pop("request_list"))
            bare = run_child([str(HERE), "--role", "bare", "--walk", str(walk), *lanes], bare_out).counts
            lapor_runs.append(lapor)
            bare_runs.append(bare)
            print(
                f"run {i + 1}: lapor-sync pushed {lapor['pushed']} ({lapor['outcome']}) in {lapor['push_wall_s']:.1f} s, "
                f"bare POST loop {bare['loop_wall_s']:.1f} s (statuses {bare['statuses']})",
                flush=True,
            )

    k = lapor_runs[0]["pushed"]
    pairs = list(zip(lapor_runs, bare_runs, strict=True))
    result = {
        "database": args.database,
        "concurrency": args.concurrency,
        "followups": k,
        "open_cases": lapor_runs[0]["open_cases"],
        "runs": args.runs,
        "lapor_sync": {
            "wall_s": summary([r["push_wall_s"] for r in lapor_runs]),
            "cpu_s": summary([r["push_cpu_s"] for r in lapor_runs]),
            "requests": summary([r["requests"] for r in lapor_runs]),
            "statements": summary([r["statements"] for r in lapor_runs]),
            "statements_per_followup": summary([r["statements"] / r["pushed"] for r in lapor_runs]),
        },
        "bare_post_loop": {
            "wall_s": summary([r["loop_wall_s"] for r in bare_runs]),
            "cpu_s": summary([r["loop_cpu_s"] for r in bare_runs]),
            "requests": summary([r["requests"] for r in bare_runs]),
        },
        # throughput of lapor-sync as a share of the bare loop's: bare wall / lapor-sync wall
        "throughput_share": summary([b["loop_wall_s"] / a["push_wall_s"] for a, b in pairs]),
        "cpu_ratio": summary([a["push_cpu_s"] / b["loop_cpu_s"] for a, b in pairs]),
    }
    ls, bare = result["lapor_sync"], result["bare_post_loop"]
    print(
        f"\nPush of K = {k:,} follow-ups, {args.database}, {args.concurrency} at once on both sides, "
        f"median (min–max) of {args.runs} interleaved runs\n"
    )
    print_table(
        ("", f"lapor-sync {args.database}", "bare POST loop, same requests, same concurrency"),
        [
            ("wall, s", fmt(ls["wall_s"]), fmt(bare["wall_s"])),
            ("CPU (user+sys), s", fmt(ls["cpu_s"]), fmt(bare["cpu_s"])),
            ("HTTP requests", fmt(ls["requests"], 0), fmt(bare["requests"], 0)),
            ("SQL statements", fmt(ls["statements"], 0), "—"),
            ("SQL statements per follow-up", fmt(ls["statements_per_followup"]), "—"),
            ("throughput, share of the bare loop", fmt(result["throughput_share"]), "1"),
            ("CPU ratio to the bare loop", fmt(result["cpu_ratio"]), "1"),
        ],
    )
    print(f"\nJSON: {write_json(args.json, f'push-{args.database}', result)}")
    return None


if __name__ == "__main__":
    main()
