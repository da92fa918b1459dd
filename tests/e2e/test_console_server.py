"""The console served over a real loopback socket: by `lapor-sync web` and inside `lapor-sync worker --web`."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx

from tests.support.e2e import COMMAND, REPO_ROOT, child_env, run_command

UNUSED_API = "http://127.0.0.1:9/lapor"  # never called: no job is due while these run


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


def _answers(url: str, *, within: float) -> httpx.Response:
    """The first answer from ``url`` within ``within`` seconds of polling (the child is starting)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # polling a child process that is starting, not waiting for time to pass


def test_worker_with_web_serves_the_console_and_stops_cleanly(tmp_path) -> None:
    port = _free_port()
    env = child_env(f"sqlite:///{tmp_path / 'w.db'}", UNUSED_API, health_port=0, web_port=port)
    child = subprocess.Popen(
        [*COMMAND, "worker", "--web", "--run-for", "6"], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        page = _answers(f"http://127.0.0.1:{port}/sign-in", within=30)
        assert page.status_code == 200 and "Masuk" in page.text
        out, _ = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 0
    assert f"console listening on http://127.0.0.1:{port}/ (loopback only" in out


def test_web_on_a_port_in_use_says_so_in_one_line(tmp_path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = child_env(f"sqlite:///{tmp_path / 'w.db'}", UNUSED_API, web_port=port)
        result = run_command(env, "web", timeout=60)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        f"error: LAPOR_SYNC_WEB_PORT: cannot listen on port {port} of 127.0.0.1 (Address already in use)"
    )
