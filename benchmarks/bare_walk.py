"""The raw limit: make a recorded request list with a plain ``httpx.Client``, bodies read and discarded.

Usage (started by the benchmarks, as its own process):
``python benchmarks/bare_walk.py REQUESTS.jsonl --out OUT.json [--concurrency K]``.
The loop alone (client opened to closed) is also timed in the process: ``loop_wall_s``, ``loop_cpu_s``.
REQUESTS.jsonl holds ``{"headers": {...}}`` (JSON), then one request a line, as lapor-sync made
them, in order: ``GET <url>``, or a JSON ``[method, url, body, content type]`` (body and content type
null on a GET, the body's bytes as latin-1 text); it is read as the walk goes, not held. Imports httpx alone, so its CPU and peak RSS
are the walk's, not lapor-sync's imports.

With ``--concurrency K`` (default 1), K threads share one client and take the requests in their
recorded order, so that at most K are in flight, as in lapor-sync's fetch pool of the same size.
"""

from __future__ import annotations

import argparse
import json
import resource
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx


def read_request(line: str) -> tuple[str, str, str | None, str | None]:
    """One recorded request: ``GET <url>`` or a JSON ``[method, url, body, content type]`` line."""
    if line.startswith("GET "):
        return "GET", line[4:].rstrip("\n"), None, None
    method, url, body, content_type = json.loads(line)
    return method, url, body, content_type


def walk(http: httpx.Client, requests: Iterator[str], concurrency: int) -> tuple[int, Counter[str]]:
    """Make the ``requests`` (JSON lines) in order with ``concurrency`` threads (each takes the next one).

    Returns:
        How many requests were made, and their statuses.
    """
    statuses: Counter[str] = Counter()
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                line = next(requests, None)
            if line is None:
                return
            method, url, body, content_type = read_request(line)
            headers = {"Content-Type": content_type} if content_type else None
            content = body.encode("latin-1") if body is not None else None
            response = http.request(method, url, content=content, headers=headers)
            response.read()
            with lock:
                statuses[str(response.status_code)] += 1

    if concurrency == 1:
        worker()  # no thread: the sequential walk stays exactly what it was
    else:
        threads = [threading.Thread(target=worker) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return sum(statuses.values()), statuses


def main() -> None:
    """Replay the requests with the given concurrency and write the count, statuses and the loop's times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requests", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight at most (>= 1)")
    args = parser.parse_args()
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    with args.requests.open(encoding="utf-8") as recorded:
        headers = json.loads(next(recorded))["headers"]
        wall0, usage0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        with httpx.Client(headers=headers, timeout=30, limits=limits) as http:
            made, statuses = walk(http, recorded, args.concurrency)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    loop = {
        "loop_wall_s": time.perf_counter() - wall0,
        "loop_cpu_s": usage.ru_utime + usage.ru_stime - usage0.ru_utime - usage0.ru_stime,
    }
    out = {"requests": made, "concurrency": args.concurrency, "statuses": dict(statuses), **loop}
    args.out.write_text(json.dumps(out))


if __name__ == "__main__":
    main()
