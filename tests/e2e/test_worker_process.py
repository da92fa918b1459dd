"""A real ``lapor-sync worker`` process against the served simulator: prompt push, /healthz, /metrics, SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import httpx
import pytest
from sqlmodel import select

from lapor_sync.adapters.city.builtin import BuiltinCityRecords
from lapor_sync.config.mapping_file import load_mapping
from lapor_sync.domain.actions import AgencyAction
from lapor_sync.domain.clock import SystemClock
from lapor_sync.simulator.catalog import category_id
from lapor_sync.storage.database import Database
from lapor_sync.storage.lease import held_leases
from lapor_sync.storage.models import Case, OutboxItem
from tests.support.e2e import COMMAND, DINSOS, child_env, harness, small_world
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.e2e
SHUTDOWN_SECONDS = 5
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(what: str, probe: Callable[[], T | None], seconds: float = 15) -> T:
    """Poll ``probe`` until it returns something (a bounded wait on another process, not on time)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def start_worker(database_url: str, base_url: str, port: int) -> subprocess.Popen[str]:
    env = child_env(
        database_url,
        base_url,
        pull_interval_seconds=1,
        push_interval_seconds=3600,
        reconcile_interval_seconds=3600,
        outbox_watch_seconds=1,
        health_port=port,
        shutdown_timeout_seconds=SHUTDOWN_SECONDS,
    )
    return subprocess.Popen(
        [*COMMAND, "worker"], cwd=REPO_ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def staff_followup(db: Database, complaint_id: int) -> int:
    """Write a follow-up as the agency's liaison would (real clock, as the worker has); return its outbox id."""
    with db.session() as session:
        records = BuiltinCityRecords(session, mapping=load_mapping(), clock=SystemClock())
        case = records.get_case(complaint_id=complaint_id)
        item = records.act(case, AgencyAction.FOLLOWUP, institution_id=DINSOS, content="Petugas akan survei.")
        session.commit()
        return item.id


def get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None


def test_worker_pushes_new_rows_promptly_serves_health_and_stops_cleanly_on_sigterm(tmp_path) -> None:
    url, port = f"sqlite:///{tmp_path / 'worker.db'}", free_port()
    with harness(small_world(), url) as h:
        complaint = h.add_complaint(disposition_id=DINSOS, category_id=category_id("Sosial dan Kesejahteraan"))
        h.app.writable_db()  # migrated before the worker starts, so polling it never meets a missing table
        worker = start_worker(url, h.base_url, port)
        try:
            db = Database(url)

            def case_pulled() -> bool:
                with db.session() as session:
                    return session.exec(select(Case).where(Case.complaint_id == complaint.complaint_id)).first()

            wait_for("the worker's first pull", case_pulled)
            item_id = staff_followup(db, complaint.complaint_id)
            written = time.monotonic()

            def delivered() -> bool:
                with db.session() as session:
                    return session.get(OutboxItem, item_id).state == "delivered"

            # The push interval is an hour: only the outbox watcher can have started this push.
            wait_for("the prompt push", delivered)
            assert time.monotonic() - written < 5
            assert len(h.national_followups(complaint.complaint_id, h.outbox(item_id).idempotency_key)) == 1

            health = wait_for("/healthz", lambda: get(f"http://127.0.0.1:{port}/healthz"))
            body = health.json()
            assert health.status_code == 200 and body["status"] == "ok", body
            assert set(body["worker"]["next_runs"]) >= {"pull", "push", "reconcile", "sla", "retention"}
            metrics = get(f"http://127.0.0.1:{port}/metrics").text
            assert 'lapor_sync_complaints_pulled_total{job="pull"} 1.0' in metrics
            assert 'lapor_sync_outbox_delivered_total{job="push"} 1.0' in metrics
            assert "lapor_sync_outbox_pending 0.0" in metrics
            assert complaint.tracking_id not in metrics and "Petugas" not in metrics

            worker.send_signal(signal.SIGTERM)
            out, err = worker.communicate(timeout=SHUTDOWN_SECONDS + 5)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        assert worker.returncode == 0, err
        lines = [json.loads(line) for line in out.splitlines()]
        messages = [line["message"] for line in lines]
        assert any(m.startswith("stopping (SIGTERM)") for m in messages) and messages[-1] == "worker stopped cleanly"
        assert f"health endpoints listening on http://127.0.0.1:{port}/healthz and /metrics (loopback only" in out
        assert any(line.get("kind") == "outbox.delivered" and line.get("run_id") for line in lines)
        assert held_leases(db, SystemClock()) == []
        db.dispose()


@contextmanager
def stalling_server() -> Iterator[tuple[str, list[socket.socket]]]:
    """A loopback HTTPS server that accepts every connection and never answers; its base URL and its connections.

    The client's TLS handshake then waits for an answer that never comes: a wait a stop request does
    not cut short (``adapters/national/deadline.py``: only name lookups and reads are sliced), which
    only the connect timeout (10 s) ends.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    closing = threading.Event()

    def accept() -> None:
        while not closing.is_set():
            try:
                connection, _address = listener.accept()
            except OSError:
                return
            held.append(connection)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}/lapor/3.0.0", held
    finally:
        closing.set()
        listener.close()
        for connection in held:
            connection.close()
        acceptor.join(timeout=5)


def test_sigterm_while_a_request_is_stalled_releases_the_worker_s_leases(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'worker.db'}"
    Database(url).upgrade()
    db = Database(url)
    with stalling_server() as (base_url, connections):
        env = child_env(url, base_url, pull_interval_seconds=1, health_port=0, shutdown_timeout_seconds=1)
        worker = subprocess.Popen(
            [*COMMAND, "worker"], cwd=REPO_ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            [held] = wait_for("the pull's lease", lambda: held_leases(db, SystemClock()))
            # Only once the request is on the wire is it stalled: a stop before that ends the run cleanly.
            wait_for("the pull's request, stalled in its TLS handshake", lambda: connections)
            worker.send_signal(signal.SIGTERM)
            out, err = worker.communicate(timeout=SHUTDOWN_SECONDS + 10)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    left = held_leases(db, SystemClock())
    db.dispose()

    assert held.job == "pull"
    assert worker.returncode == 1, out[-3000:]
    assert left == [], "no lease left behind to refuse every sync as busy"
    assert "runs still in flight after 1 s: pull; leaving them" in out and "their leases released: pull" in out
