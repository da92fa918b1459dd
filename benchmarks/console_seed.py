"""Fill a database with a city's year at console scale: 100,000 complaints and 1,000,000 sync events by default.

Usage: ``.venv/bin/python benchmarks/console_seed.py URL [--cases 100000] [--events 1000000]``, URL a
SQLite file (``sqlite:///console.db``) or a PostgreSQL URL. The database must be new or empty.

Shaped like the demo's data: Kota Palangka Raya's agencies (``mappings/palangka-raya.toml``), WIB
times over 2024, one binding and about three thread entries per case, one outbox row per five
cases, one sync run per twenty cases, about one confidential complaint in thirty and one anonymous
in five (anonymous ones keep no reporter fields, as lapor-sync stores them). Rows go in by bulk:
``executemany`` in chunks on SQLite, ``COPY`` on PostgreSQL; a seeded random makes the same data
every time. :func:`seed` is importable, for the page benchmark.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain, islice
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "mappings" / "palangka-raya.toml"
INSTITUTION_ID = 6271
YEAR_START = datetime(2023, 12, 31, 17, 0, tzinfo=UTC)  # 1 January 2024, 00:00 WIB
YEAR = timedelta(days=366)
CHUNK = 20_000
"""Rows per executemany (SQLite): large enough to amortise the call, small enough to keep memory flat."""

WORDS = (
    "jalan rusak berlubang lampu penerangan mati sampah menumpuk drainase tersumbat banjir genangan "
    "air bersih pdam bocor izin usaha pelayanan puskesmas antrean sekolah bantuan sosial belum diterima "
    "pohon tumbang kabel listrik parkir liar trotoar angkutan kota macet pasar kumuh bau limbah"
).split()
RARE = "zebracross"
"""A word found in about one complaint in a thousand: the benchmark's search that must read far to fill a page."""
KINDS = (
    ("complaint.created", 30),
    ("complaint.updated", 35),
    ("complaint.triage", 5),
    ("outbox.delivered", 15),
    ("outbox.retry", 6),
    ("outbox.dead_letter", 1),
    ("sla.overdue", 7),
    ("case.reassigned", 1),
)
LEVELS = (("info", 90), ("warning", 8), ("error", 2))
JOBS = ("pull", "push", "sync", "reconcile", "sla", "retention")
CLOSED_STATES = ("completed", "completed", "completed", "archived", "forwarded", "rejected")
FIRST_NAMES = ("Budi", "Siti", "Agus", "Dewi", "Rahmat", "Wulan", "Andi", "Rina")


@dataclass(frozen=True)
class Seeded:
    """How many rows :func:`seed` wrote, per table, and how long it took (seconds)."""

    counts: dict[str, int]
    seconds: float


def agencies() -> list[tuple[str, str]]:
    """The (code, name) of each agency in the demo's mapping file."""
    data = tomllib.loads(MAPPING.read_text(encoding="utf-8"))
    return [(a["code"], a["name"]) for a in data["agency"]]


def seed(url: str, *, cases: int = 100_000, events: int = 1_000_000, rng_seed: int = 15) -> Seeded:
    """Migrate the database at ``url`` and fill it; return the row counts.

    Args:
        url: a SQLAlchemy URL of an empty database (SQLite file or PostgreSQL).
        cases: complaints (cases, with their bindings and threads); outbox rows are a fifth, runs a
            twentieth, set-aside records a two-hundredth of it.
        events: sync events.
        rng_seed: the random seed (the same seed makes the same data).

    Returns:
        The rows written per table, and the seconds taken.
    """
    from lapor_sync.storage.database import Database

    started = time.perf_counter()
    db = Database(url)
    db.upgrade()
    rng = random.Random(rng_seed)
    codes = [code for code, _ in agencies()]
    runs = max(1, cases // 20)
    shape = _Shape(rng, codes, cases, runs)
    counts: dict[str, int] = {}
    with db.engine.begin() as conn:
        for name, rows in (
            (
                "agency",
                ({"code": c, "name": n, "abbreviation": None, "national_institution_id": None} for c, n in agencies()),
            ),
            ("case", shape.cases()),
            ("binding", shape.bindings()),
            ("thread_entry", shape.thread()),
            ("sync_run", shape.runs()),
            ("sync_event", shape.events(events)),
            ("outbox", shape.outbox(max(1, cases // 5))),
            ("set_aside", shape.set_aside(max(1, cases // 200))),
        ):
            counts[name] = _bulk(conn, name, rows)
    # Statistics for the planner and (PostgreSQL) the visibility map, as a database that lived
    # through the year has them from autovacuum; only these tables, not every schema.
    tables = ", ".join(f'"{name}"' for name in counts)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"VACUUM ANALYZE {tables}" if conn.dialect.name == "postgresql" else "ANALYZE")
    db.dispose()
    return Seeded(counts, time.perf_counter() - started)


def _bulk(conn: Connection, table_name: str, rows: Iterable[dict[str, Any]]) -> int:
    """Insert ``rows`` into the table, by ``COPY`` on PostgreSQL and chunked executemany elsewhere."""
    from sqlmodel import SQLModel

    table: Table = SQLModel.metadata.tables[table_name]
    if conn.dialect.name == "postgresql":
        return _copy(conn, table, rows)
    total = 0
    it = iter(rows)
    while chunk := list(islice(it, CHUNK)):
        conn.execute(table.insert(), chunk)
        total += len(chunk)
    return total


def _copy(conn: Connection, table: Table, rows: Iterable[dict[str, Any]]) -> int:
    """``COPY`` ``rows`` into ``table`` through psycopg, then move the id sequence past them."""
    import json

    it = iter(rows)
    first = next(it, None)
    if first is None:
        return 0
    columns = list(first)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    total = 0
    names = ", ".join(f'"{c}"' for c in columns)
    with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in chain([first], it):
            copy.write_row([json.dumps(v) if isinstance(v, dict) else v for v in row.values()])
            total += 1
    if "id" in table.c and "id" in columns:
        conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), (SELECT max(id) FROM \"{table.name}\"))"
        )
    return total


class _Shape:
    """The rows of each table, drawn from one seeded random so that tables agree with each other."""

    def __init__(self, rng: random.Random, codes: list[str], cases: int, runs: int) -> None:
        self.rng, self.codes, self.n_cases, self.n_runs = rng, codes, cases, runs
        # Cases arrive in id order over the year; the event and run streams follow the same clock.
        self.received = [YEAR_START + YEAR * (i / cases) + timedelta(seconds=rng.randrange(600)) for i in range(cases)]
        self.agency = [rng.choice(codes) for _ in range(cases)]
        self.closed: list[datetime | None] = []
        self.state: list[str] = []
        for at in self.received:
            open_ = at > YEAR_START + YEAR - timedelta(days=45) or rng.random() < 0.04
            self.state.append(rng.choice(("new", "in_progress")) if open_ else rng.choice(CLOSED_STATES))
            self.closed.append(None if open_ else at + timedelta(days=rng.uniform(1, 40)))

    def _text(self, words: int) -> str:
        text = " ".join(self.rng.choice(WORDS) for _ in range(words))
        return f"{text} {RARE}" if self.rng.random() < 0.001 else text

    def cases(self) -> Iterator[dict[str, Any]]:
        """One complaint per case, id 1..N."""
        for i in range(self.n_cases):
            anonymous = self.rng.random() < 0.2
            name = f"{self.rng.choice(FIRST_NAMES)} Warga{i}"
            content = self._text(40).capitalize() + "."
            yield {
                "id": i + 1,
                "institution_id": INSTITUTION_ID,
                "complaint_id": 3_000_000 + i,
                "tracking_id": str(2_000_000 + i),
                "agency_code": self.agency[i],
                "routing_rule": "category",
                "state": self.state[i],
                "title": self._text(5).capitalize(),
                "content": content,
                "content_length": len(content),
                "classification_name": "pengaduan",
                "category_id": 40,
                "category_name": "Infrastruktur",
                "national_status_code": 1 if self.closed[i] is None else 4,
                "national_status_name": "Terverifikasi" if self.closed[i] is None else "Selesai",
                "disposition_id": None,
                "disposition_name": None,
                "is_anonymous": anonymous,
                "is_secret": self.rng.random() < 0.03,
                "is_priority": False,
                "channel_name": "web",
                "location_name": "Pahandut",
                "date_of_incident": None,
                "reporter_name": None if anonymous else name,
                "reporter_email": None if anonymous else f"warga{i}@contoh.id",
                "reporter_phone": None if anonymous else f"0812{i:08d}",
                "complaint_created_at": self.received[i] - timedelta(hours=2),
                "dispositioned_at": self.received[i] - timedelta(hours=1),
                "received_at": self.received[i],
                "closed_at": self.closed[i],
                "purged_at": None,
            }

    def bindings(self) -> Iterator[dict[str, Any]]:
        """One binding per case."""
        for i in range(self.n_cases):
            yield {
                "id": i + 1,
                "institution_id": INSTITUTION_ID,
                "complaint_id": 3_000_000 + i,
                "tracking_id": str(2_000_000 + i),
                "case_id": i + 1,
                "national_updated_at": self.closed[i] or self.received[i],
                "content_hash": f"{i:064x}",
                "last_seen_in_inbox_at": None,
                "last_checked_at": self.closed[i] or self.received[i],
            }

    def thread(self) -> Iterator[dict[str, Any]]:
        """About three entries per case: national follow-ups and agency replies, hours apart."""
        entry = 0
        for i in range(self.n_cases):
            for n in range(self.rng.choice((2, 3, 4))):
                entry += 1
                content = self._text(20)
                yield {
                    "id": entry,
                    "case_id": i + 1,
                    "origin": "agency" if n % 2 else "national",
                    "author_type": "instansi" if n % 2 else "pelapor",
                    "national_id": None if n % 2 else entry,
                    "institution_id": None,
                    "content": content,
                    "content_length": len(content),
                    "rating": 0,
                    "is_secret": False,
                    "reference": None,
                    "created_at": self.received[i] + timedelta(hours=6 * (n + 1)),
                }

    def _run_at(self, n: int) -> datetime:
        return YEAR_START + YEAR * (n / self.n_runs)

    def runs(self) -> Iterator[dict[str, Any]]:
        """Sync runs spread evenly over the year, mostly ``ok``."""
        for n in range(self.n_runs):
            at = self._run_at(n)
            outcome = self.rng.choices(("ok", "failed", "interrupted"), (95, 4, 1))[0]
            yield {
                "id": n + 1,
                "institution_id": INSTITUTION_ID,
                "job": self.rng.choice(JOBS),
                "trigger": self.rng.choices(("schedule", "manual", "command"), (90, 5, 5))[0],
                "started_at": at,
                "finished_at": at + timedelta(seconds=self.rng.uniform(1, 60)),
                "outcome": outcome,
                "error": "HTTP 503 dari LAPOR!" if outcome == "failed" else None,
                "tick": None,
                "holder": None,
                "leases": None,
                "quota_wait_until": None,
                **{c: self.rng.randrange(30) for c in ("fetched", "created", "updated", "unchanged", "pushed")},
                **{c: 0 for c in ("set_aside", "failed", "dead_lettered", "quota_waited_seconds")},
            }

    def events(self, count: int) -> Iterator[dict[str, Any]]:
        """Events in id order over the year, each of a case near that time, in the run of that time."""
        kinds, kind_weights = zip(*KINDS, strict=True)
        levels, level_weights = zip(*LEVELS, strict=True)
        kind_draw = self.rng.choices(kinds, kind_weights, k=count)
        level_draw = self.rng.choices(levels, level_weights, k=count)
        for n in range(count):
            share = n / count
            case = min(self.n_cases - 1, max(0, int(share * self.n_cases) - self.rng.randrange(50)))
            yield {
                "id": n + 1,
                "run_id": min(self.n_runs, int(share * self.n_runs) + 1),
                "at": YEAR_START + YEAR * share,
                "complaint_id": 3_000_000 + case,
                "tracking_id": str(2_000_000 + case),
                "agency_code": self.agency[case],
                "kind": kind_draw[n],
                "level": level_draw[n],
                "message": f"{kind_draw[n]} untuk #{2_000_000 + case}",
            }

    def outbox(self, count: int) -> Iterator[dict[str, Any]]:
        """Outbox rows on random cases in id order: mostly delivered, some pending, dead or cancelled."""
        for n in range(count):
            case = min(self.n_cases - 1, int(n / count * self.n_cases))
            created = self.received[case] + timedelta(hours=3)
            state = self.rng.choices(("delivered", "pending", "dead", "cancelled"), (85, 5, 7, 3))[0]
            yield {
                "id": n + 1,
                "case_id": case + 1,
                "institution_id": INSTITUTION_ID,
                "complaint_id": 3_000_000 + case,
                "tracking_id": str(2_000_000 + case),
                "kind": self.rng.choices(("followup", "complete", "return", "forward"), (80, 15, 3, 2))[0],
                "payload": {"content": "Sedang kami tindak lanjuti."},
                "idempotency_key": f"ls-{n:012d}",
                "state": state,
                "attempts": 1,
                "needs_readback": False,
                "next_attempt_at": created,
                "last_error": "HTTP 422: ditolak" if state == "dead" else None,
                "created_at": created,
                "delivered_at": created + timedelta(minutes=5) if state == "delivered" else None,
                "thread_entry_id": None,
                "fence": 0,
                "claimed_by": None,
                "claimed_until": None,
            }

    def set_aside(self, count: int) -> Iterator[dict[str, Any]]:
        """Records set aside over the year, nine in ten resolved since."""
        for n in range(count):
            at = YEAR_START + YEAR * (n / count)
            yield {
                "id": n + 1,
                "institution_id": INSTITUTION_ID,
                "run_id": None,
                "complaint_id": 4_000_000 + n,
                "reason": "field 'created_at' is not a date",
                "raw": "{}",
                "first_seen_at": at,
                "last_seen_at": at,
                "resolved_at": at + timedelta(days=1) if self.rng.random() < 0.9 else None,
            }


def main(argv: list[str] | None = None, *, out: Callable[[str], None] = print) -> int:
    """Parse the command line, seed, print the counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="database URL (sqlite:///FILE or postgresql://...)")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    done = seed(args.url, cases=args.cases, events=args.events)
    for table, count in done.counts.items():
        out(f"{table:<14}{count:>10,}")
    out(f"seeded in {done.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
