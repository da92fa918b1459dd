"""The raw limit: make a recorded request list with a plain ``httpx.Client``, bodies read and discarded.

Usage (started by the benchmarks, as its own process): ``python benchmarks/bare_walk.py REQUESTS.json --out OUT.json``.
The loop alone (client opened to closed) is also timed in the process: ``loop_wall_s``, ``loop_cpu_s``.
REQUESTS.json holds ``{"headers": {...}, "requests": [[method, url, body, content type], ...]}`` (body and
content type null on a GET, the body's bytes as latin-1 text), as lapor-sync
made them, in order. Imports httpx alone, so its CPU and peak RSS are the walk's, not lapor-sync's imports.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import httpx


def main() -> None:
    """Replay the requests one after another (lapor-sync's pull and push are sequential) and write the count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requests", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    recorded = json.loads(args.requests.read_text())
    statuses: dict[str, int] = {}
    wall0, usage0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    with httpx.Client(headers=recorded["headers"], timeout=30) as http:
        for method, url, body, content_type in recorded["requests"]:
            headers = {"Content-Type": content_type} if content_type else None
            content = body.encode("latin-1") if body is not None else None
            response = http.request(method, url, content=content, headers=headers)
            response.read()
            statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1
    usage = resource.getrusage(resource.RUSAGE_SELF)
    loop = {
        "loop_wall_s": time.perf_counter() - wall0,
        "loop_cpu_s": usage.ru_utime + usage.ru_stime - usage0.ru_utime - usage0.ru_stime,
    }
    args.out.write_text(json.dumps({"requests": len(recorded["requests"]), "statuses": statuses, **loop}))


if __name__ == "__main__":
    main()
