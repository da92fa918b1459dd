"""Shared parts of the benchmarks: the simulator as its own process, child processes timed as whole processes,
in-process counters of lapor-sync's HTTP requests and SQL statements, follow-ups queued as staff queue them,
the bare walk's request file, medians and tables.

Every measured side (lapor-sync, the bare httpx walk) runs in a child process of its own, so its
wall time, CPU (user + sys) and peak RSS are that process's alone (see :func:`spawn_timed`). A child
writes what it counted (requests, statements, the request list) to a JSON file.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from measure_support import CREDENTIALS, city_app, fresh_database, lapor_sync  # noqa: E402

__all__ = ["CREDENTIALS", "city_app", "fresh_database", "lapor_sync"]

RESULTS = Path(__file__).resolve().parent / "results"
STATIC_HEADERS = {
    "Authorization": f"Bearer {CREDENTIALS.api_key}",
    "token": CREDENTIALS.app_token,
    "Accept": "application/json",
}
"""The simulator's static credentials, as the bare walk sends them (no OAuth2 round trip)."""


START_SECONDS = 600.0
"""The longest a benchmark's simulator may take to start (it generates its data set first)."""


@contextmanager
def simulator_process(*args: str, complaints: int | None = None) -> Iterator[str]:
    """Serve the 2024 data set with ``lapor-sync simulator`` in its own process, no rate limit; yield the base URL.

    ``args``: more options (e.g. ``--clock end``); ``complaints``: the data set's size N (``--complaints``;
    default the simulator's own, 1,983). The demo's launcher runs it (:func:`simulator_child`: started,
    waited for, and ended with SIGTERM, then SIGKILL, after the block); generating 100,000 complaints
    takes some 10 s, so the start may take up to :data:`START_SECONDS`.
    """
    from lapor_sync.demo.simulator_child import simulator_child

    size = ("--complaints", str(complaints)) if complaints is not None else ()
    with simulator_child("--no-rate-limit", *size, *args, start_timeout=START_SECONDS) as child:
        yield child.base_url


GNU_TIME = "/usr/bin/time"


def spawn_timed(
    command: Sequence[str], cwd: Path, *, env: dict[str, str] | None = None, stderr: Any = None
) -> tuple[float, float, float, int]:
    """Run ``command`` as a whole process (stdout discarded); return wall s, CPU s (user + sys), peak RSS MB, exit code.

    Wall is from the fork to the reap (``perf_counter``); CPU is the kernel's accounting (``wait4``).
    Peak RSS comes from GNU time (``/usr/bin/time -f %M``), which forks the command from its own small
    process: ``wait4``'s ``ru_maxrss`` of a child started from this one would count this process's
    RSS at the fork (Linux keeps the high-water mark across ``execve``).
    """
    with tempfile.NamedTemporaryFile("r") as rss:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [GNU_TIME, "-f", "%M", "-o", rss.name, *command],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        peak_kb = int(rss.read().split()[-1])
    return wall, usage.ru_utime + usage.ru_stime, peak_kb / 1024, os.waitstatus_to_exitcode(status)


@dataclass
class ChildRun:
    """One finished child process: wall seconds, CPU seconds (user + sys), peak RSS in MB, what it counted."""

    wall: float
    cpu: float
    rss_mb: float
    counts: dict[str, Any]


def run_child(args: Sequence[str], out: Path, env: dict[str, str] | None = None) -> ChildRun:
    """Run ``python args... --out OUT`` (it writes its counts as JSON to ``out``), timed as a whole process."""
    with out.with_suffix(".log").open("w") as log:  # lapor-sync's log lines, read only on a failure
        wall, cpu, rss_mb, code = spawn_timed([sys.executable, *args, "--out", str(out)], ROOT, env=env, stderr=log)
    if code != 0:
        tail = out.with_suffix(".log").read_text()[-3000:]
        raise RuntimeError(f"child {' '.join(args[:3])} exited {code}:\n{tail}")
    return ChildRun(wall, cpu, rss_mb, json.loads(out.read_text()))


class Counters:
    """Counts lapor-sync's HTTP requests (an httpx event hook) and SQL statements (``before_cursor_execute``).

    Each request is kept as ``[method, url, body, content type]`` in order, for the bare replay (body
    and content type ``None`` on a GET; the body's bytes as latin-1 text): in ``requests``, or, with
    ``record_to``, appended to that file as it is sent and not kept, so that a backfill of 100,000
    complaints does not hold 200,000 recorded requests in the very process whose peak RSS is
    measured. In the file a GET is a plain ``GET <url>`` line and any other request a JSON line as
    :func:`write_requests` writes it (``bare_walk.py`` reads both): the hook runs inside the timed
    run, so it does as little as it can there.

    Args:
        record_to: the file to record the requests to, or ``None`` to keep them in ``requests``.
    """

    def __init__(self, record_to: Path | None = None) -> None:
        self.requests: list[list[Any]] = []
        self.request_count = 0
        self.statements = 0
        self._lock = threading.Lock()  # a pool of fetching threads may send and run statements at once
        self._record = record_to.open("w", encoding="utf-8") if record_to is not None else None
        if self._record is not None:
            self._record.write(json.dumps({"headers": STATIC_HEADERS}) + "\n")

    def attach(self, app: Any, platform_client: Any) -> None:
        """Hook the counters onto ``app``'s database engine and ``platform_client``'s httpx client."""
        from sqlalchemy import event

        def count_statement(*_: Any) -> None:
            with self._lock:
                self.statements += 1

        def record_request(request: Any) -> None:
            # This hook runs inside the measured sync run, once per request: a GET (all but a few
            # of a backfill's) is written to the file as a short ``GET <url>`` line, no JSON and no
            # list built; only a write needs its body and content type kept as JSON.
            if request.method == "GET" and self._record is not None:
                line = f"GET {request.url}\n"
                with self._lock:
                    self.request_count += 1
                    self._record.write(line)
                return
            body, content_type = None, None
            if request.method != "GET":
                # read() buffers a streamed body (a multipart upload) so that it is still sent after this hook
                body = request.read().decode("latin-1")  # bytes kept one for one, for the replay
                content_type = request.headers.get("Content-Type")
            recorded = [request.method, str(request.url), body, content_type]
            with self._lock:
                self.request_count += 1
                if self._record is None:
                    self.requests.append(recorded)
                else:
                    self._record.write(json.dumps(recorded) + "\n")

        event.listen(app.db.engine, "before_cursor_execute", count_statement)
        platform_client._http.event_hooks["request"].append(record_request)  # noqa: SLF001 (measurement hook)

    def mark(self) -> tuple[int, int]:
        """The (requests, statements) counted so far, to subtract from a later mark."""
        return self.request_count, self.statements

    def close(self) -> None:
        """Finish the recording file, if any (flushed and closed)."""
        if self._record is not None:
            self._record.close()


def queue_followups(app: Any, count: int | None = None) -> int:
    """Queue follow-ups as ``lapor-sync case followup`` does (``BuiltinCityRecords.act``, one transaction each).

    ``count`` follow-ups round-robin over the open cases (``None``: one on each). Returns how many
    open cases there were.
    """
    from itertools import cycle

    from sqlmodel import col, select

    from lapor_sync.domain.actions import AgencyAction
    from lapor_sync.domain.status import CaseState
    from lapor_sync.storage.models import Case

    with app.db.session() as session:
        records = app.city_records(session)
        open_now = col(Case.state).in_([CaseState.NEW.value, CaseState.IN_PROGRESS.value])  # a follow-up may go there
        cases = list(
            session.exec(select(Case).where(Case.institution_id == app.institution_id, open_now).order_by(Case.id))
        )
        for n, case in zip(range(len(cases) if count is None else count), cycle(cases), strict=False):
            records.act(
                case,
                AgencyAction.FOLLOWUP,
                institution_id=app.mapping.acting_institution(case.agency_code),
                content=f"Tindak lanjut nomor {n + 1}: tim sudah meninjau lokasi.",
            )
            session.commit()
    return len(cases)


def write_requests(path: Path, requests: list[list[Any]]) -> Path:
    """Write ``requests`` (``[method, url, body, content type]``) and the static credentials for ``bare_walk.py`` to ``path``.

    JSON lines: ``{"headers": {...}}`` first, then one request a line, as :class:`Counters` records them.
    """
    lines = [json.dumps({"headers": STATIC_HEADERS}), *(json.dumps(request) for request in requests)]
    path.write_text("\n".join(lines) + "\n")
    return path


BARE_WALK = str(Path(__file__).resolve().parent / "bare_walk.py")
"""The bare walk's script (imports httpx alone)."""


@dataclass
class Pair:
    """One interleaved run: lapor-sync's child, then the bare walk of the requests it made."""

    lapor: ChildRun
    bare: ChildRun


def interleaved_pairs(
    runs: int,
    database: str,
    lapor_args: Sequence[str],
    *,
    on_run: Callable[[int, Pair], None] | None = None,
) -> list[Pair]:
    """Run ``runs`` pairs, interleaved: lapor-sync on a fresh database, then the bare walk of its requests.

    Args:
        runs: how many pairs.
        database: ``sqlite`` or ``postgres`` (:func:`fresh_database`), a fresh one per run.
        lapor_args: the lapor-sync child's command line after ``python``; ``--database-url URL``,
            ``--requests-file PATH`` and ``--out PATH`` are added. It records its requests to the
            requests file (``Counters(record_to=PATH)``), for the replay; its JSON may hold
            ``concurrency``, the requests lapor-sync had in flight at most (default 1), which the
            bare walk then keeps too.
        on_run: called after each pair with its index (0-based), e.g. to print progress.

    Returns:
        The pairs in run order.
    """
    pairs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            walk = Path(tmp) / f"walk{i}.jsonl"
            with fresh_database(database) as url:
                child = [*lapor_args, "--database-url", url, "--requests-file", str(walk)]
                lapor = run_child(child, Path(tmp) / f"lapor{i}.json")
            concurrency = str(lapor.counts.get("concurrency", 1))
            bare = run_child([BARE_WALK, str(walk), "--concurrency", concurrency], Path(tmp) / f"bare{i}.json")
            pairs.append(Pair(lapor, bare))
            if on_run is not None:
                on_run(i, pairs[-1])
    return pairs


def summaries(items: Sequence[Any], **figures: Callable[[Any], float]) -> dict[str, dict[str, float]]:
    """For each named figure, :func:`summary` of ``figure(item)`` over ``items`` (e.g. ``wall_s=lambda r: r.wall``)."""
    return {name: summary([figure(item) for item in items]) for name, figure in figures.items()}


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of ``values``."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt(stat: dict[str, float], digits: int = 2) -> str:
    """``median (min–max)``, or the median alone when every run gave the same figure."""
    if stat["min"] == stat["max"]:
        return f"{stat['median']:.{digits}f}"
    return f"{stat['median']:.{digits}f} ({stat['min']:.{digits}f}–{stat['max']:.{digits}f})"


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a Markdown table."""
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def machine() -> dict[str, Any]:
    """The machine and code measured: cores, CPU model, Python, commit."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    commit = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
        or "unknown (not a git checkout)"
    )
    return {"cores": os.cpu_count(), "cpu": model, "python": platform.python_version(), "commit": commit}


def write_json(path: Path | None, name: str, data: dict[str, Any]) -> Path:
    """Write ``data`` (plus the machine) to ``path``, or to ``benchmarks/results/<name>.json``; return the path."""
    target = path or RESULTS / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"machine": machine(), **data}, indent=2))
    return target
