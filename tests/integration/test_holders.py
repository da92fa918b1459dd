"""Holder names say which process incarnation holds a lease or a claim, and whether it still runs."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys

from lapor_sync.storage.holders import Liveness, holder_name, is_this_process, liveness

BOUND = 30  # seconds


def test_a_holder_is_alive_while_its_process_runs_and_gone_once_it_ended() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from lapor_sync.storage.holders import holder_name; "
            "print(holder_name('worker'), flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert select.select([child.stdout], [], [], BOUND)[0], "the child never named itself"
        name = child.stdout.readline().strip()  # type: ignore[union-attr]
        assert liveness(name) is Liveness.ALIVE and not is_this_process(name)
    finally:
        child.kill()
        child.wait(BOUND)
    assert liveness(name) is Liveness.GONE


def test_a_later_process_with_the_same_pid_is_not_its_predecessor() -> None:
    mine = holder_name("worker")
    host_pid_purpose, incarnation = mine.rsplit(" @", 1)
    start, scope = incarnation.split("-")

    assert liveness(mine) is Liveness.ALIVE and is_this_process(mine)
    assert liveness(f"{host_pid_purpose} @{int(start) - 1}-{scope}") is Liveness.GONE


def test_a_holder_on_another_host_or_named_without_incarnation_is_unknown() -> None:
    start_and_scope = holder_name("worker").rsplit(" @", 1)[1]
    assert liveness(f"web02-elsewhere:{os.getpid()} worker @{start_and_scope}") is Liveness.UNKNOWN
    assert liveness(f"{socket.gethostname()}:{os.getpid()} worker") is Liveness.UNKNOWN  # as named before
    assert liveness(None) is Liveness.UNKNOWN
