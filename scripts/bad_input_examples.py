"""Show one example of each bad-input kind: malformed records set aside, valid-but-hostile texts stored.

Usage: ``.venv/bin/python scripts/bad_input_examples.py [--full]``. Serves an empty simulator, adds
one Dinas Sosial complaint per kind, breaks each on the wire (a rewriting transport between
lapor-sync and the simulator; JSON is re-encoded with ``ensure_ascii`` so a lone surrogate travels
as ``"\\ud800"``), syncs once into a temp SQLite database, and prints ``lapor-sync log --json --kind
complaint.set_aside``, how each text kind was stored, ``status``'s set-aside count, and what
``resync --set-aside`` does once the platform answers unbroken. ``--full`` prints whole events.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from measure_support import cli, fresh_database, worker_env
from sqlmodel import select

from lapor_sync.adapters.national import LaporClient, RetryPolicy, StaticKeyAuth
from lapor_sync.app import App
from lapor_sync.config.settings import Settings
from lapor_sync.domain.clock import ManualClock
from lapor_sync.domain.timezones import WIB
from lapor_sync.simulator import START_OF_DATA, Credentials, Simulator
from lapor_sync.simulator.catalog import category_id
from lapor_sync.simulator.model import Counters, Reporter
from lapor_sync.simulator.world import World
from lapor_sync.storage.models import SetAsideRecord

DINSOS = 627104
Edit = Callable[[dict[str, Any]], None]


def put(**fields: object) -> Edit:
    """An edit that sets ``fields``."""
    return lambda row: row.update(fields)


def drop(name: str) -> Edit:
    """An edit that removes field ``name``."""
    return lambda row: row.pop(name)


# kind -> (edit of the complaint's inbox rows and detail, edit of its follow-up rows, content in the world)
Kind = tuple[Edit | None, Edit | None, str | None]
SET_ASIDE: dict[str, Kind] = {
    "missing field (status_code)": (drop("status_code"), None, None),
    "wrong type (status_code 'abc')": (put(status_code="abc"), None, None),
    "wrong type (complaint_id 'x')": (put(complaint_id="x"), None, None),
    "impossible date (created_at 31-02-2024)": (put(created_at="31-02-2024 10:00:00"), None, None),
    "impossible date (updated_at 99-99-9999)": (put(updated_at="99-99-9999"), None, None),
    "malformed follow-up (created_at 99-99-9999)": (None, put(created_at="99-99-9999 10:00:00"), None),
    "number beyond an INTEGER column": (put(category_id=2**40), None, None),
    "malformed, carrying NUL and a lone surrogate": (
        put(status_code="abc", content="Isi\x00 \ud800laporan"),
        None,
        None,
    ),
}
STORED: dict[str, Kind] = {
    "70,000-character content": (None, None, ("Saluran air tersumbat di Jl. G. Obos. " * 1900)[:70_000]),
    "NUL bytes (title, content, follow-up)": (
        put(title="Jalan\x00 rusak", content="Mohon\x00 diperbaiki"),
        put(content="Sedang\x00 ditangani."),
        None,
    ),
    "lone surrogates (title, content, follow-up)": (
        put(title="Banjir \ud800", content="Air \udfffnaik"),
        put(content="Balasan \ud800."),
        None,
    ),
    "emoji": (None, None, "Lampu jalan mati 💡😟👨‍👩‍👧 sudah 3 malam 🇮🇩"),
    "HTML": (None, put(content="<i>Terima kasih</i>"), "<p>Sudah <b>3 malam</b> gelap</p><script>x()</script>"),
}


class Rewriting(httpx.HTTPTransport):
    """HTTP to the simulator, with chosen complaints' JSON edited on the way back."""

    def __init__(self, edits: dict[int, tuple[Edit | None, Edit | None]]) -> None:
        super().__init__()
        self.edits = edits

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Forward ``request``; edit the complaint objects and follow-up rows of the chosen complaints."""
        response = super().handle_request(request)
        payload = json.loads(response.read())
        data = (payload.get("results") or {}).get("data") if isinstance(payload, dict) else None
        followups = request.url.path.endswith("/followups")
        for row in data if isinstance(data, list) else [data]:
            edit = self.edits.get(row.get("complaint_id")) if isinstance(row, dict) else None
            if edit is not None and edit[followups] is not None:
                edit[followups](row)
        return httpx.Response(
            response.status_code,
            content=json.dumps(payload).encode(),
            headers={"content-type": "application/json"},
            request=request,
        )


def main() -> None:
    """Run the examples and print what lapor-sync made of them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="print whole events, not the trimmed fields")
    args = parser.parse_args()
    clock = ManualClock(datetime(2024, 1, 2, 9, 0, tzinfo=WIB))
    simulator = Simulator(World(clock, [], Counters(), reply_rate=0.0), rate_limit=None)
    sosial, reporter = category_id("Sosial dan Kesejahteraan"), Reporter("Siti Rahasia", "siti@contoh.id", "0812")
    edits: dict[int, tuple[Edit | None, Edit | None]] = {}
    names: dict[int, str] = {}
    for name, (complaint, followup, content) in [*SET_ASIDE.items(), *STORED.items()]:
        added = simulator.world.add_complaint(
            disposition_id=DINSOS, category_id=sosial, reporter=reporter, **({"content": content} if content else {})
        )
        simulator.world.add_followup(added.complaint_id, DINSOS, "Sedang kami tangani.")
        edits[added.complaint_id], names[added.complaint_id] = (complaint, followup), name
    credentials = Credentials()
    with simulator.serve() as base_url, fresh_database("sqlite") as url:
        settings = Settings(
            database_url=url,
            api_base_url=base_url,
            auth_mode="static",
            api_key=credentials.api_key,
            api_token=credentials.app_token,
            institution_id=6271,
            initial_since=START_OF_DATA,
            requests_per_minute=0,  # the simulator counts no quota
        )
        app = App(settings, clock=clock)
        auth = StaticKeyAuth(credentials.api_key, credentials.app_token)
        logging.getLogger("lapor_sync").setLevel(logging.ERROR)  # the events are printed below, once
        with LaporClient(
            base_url, auth, retry=RetryPolicy.no_wait(), clock=clock, transport=Rewriting(edits)
        ) as client:
            run = app.sync_service(client).run()
        print(f"sync run #{run.id}: {run.outcome}, created {run.created}, set aside {run.set_aside}\n")
        env = worker_env(url, base_url)
        events = json.loads(cli(env, "log", "--json", "--kind", "complaint.set_aside").stdout)
        print("$ lapor-sync log --json --kind complaint.set_aside" + ("" if args.full else "   (trimmed)"))
        for event in events:
            shown = event if args.full else {k: event[k] for k in ("kind", "level", "complaint_id", "message")}
            kind = names.get(event["complaint_id"], "wrong type (complaint_id 'x')")
            print(f"# {kind}\n{json.dumps(shown, ensure_ascii=False)}")
        print("\nstored, not set aside (title | content_length as received | stored length | thread):")
        with app.db.session() as session:
            records = app.city_records(session)
            for complaint_id, name in names.items():
                if name in STORED:
                    case = records.get_case(complaint_id=complaint_id)
                    thread = [(e.content, e.content_length) for e in records.thread(case.id)]
                    print(
                        f"  {name:45} {case.title[:20]!r:24} {case.content_length:>6} {len(case.content):>6} {thread}"
                    )
        carrier = next(i for i, name in names.items() if name == "malformed, carrying NUL and a lone surrogate")
        with app.db.session() as session:
            record = session.exec(select(SetAsideRecord).where(SetAsideRecord.complaint_id == carrier)).one()
        raw = json.loads(record.raw)["data"]
        print(
            f"\nraw payload kept for complaint {record.complaint_id} (some fields): "
            f"{json.dumps({k: raw[k] for k in ('status_code', 'content', 'user')}, ensure_ascii=False)}"
        )
        print(
            f"\nstatus: set_aside_unresolved = {json.loads(cli(env, 'status', '--json').stdout)['set_aside_unresolved']}"
        )
        resync = json.loads(cli(env, "resync", "--set-aside", "--json").stdout)
        print(f"resync --set-aside (platform repaired): {resync['summary']}")
        print(
            f"status: set_aside_unresolved = {json.loads(cli(env, 'status', '--json').stdout)['set_aside_unresolved']}"
        )


if __name__ == "__main__":
    main()
