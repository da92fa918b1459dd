"""Who holds a job lease or an outbox claim: one process incarnation, and whether it still runs.

A holder is named ``"<host>:<pid> <purpose> @<start>-<scope>"``, for example
``"web01:4242 worker @8812345-1f2e3d4c"``. ``start`` is the process's start time in clock ticks
since boot (``/proc/<pid>/stat``, field 22) and ``scope`` names the machine and process namespace
the pid belongs to (a hash of the kernel's boot id and the pid namespace). The pair tells one
incarnation from the next: a restarted container's pid 1 has a new start time, a rebooted host a
new boot id, and two containers on one machine with the same host name have different pid
namespaces. Where ``/proc`` cannot be read, the ``@`` part is left out and such a holder's liveness
is never known (its claims then expire by time alone).

Why it matters: an outbox claim held by a process of *this* host (and pid namespace) that still
runs is kept whatever the clocks say (a stepped clock or a paused process cannot make it look
expired), and one whose process has ended is taken over at once instead of after its expiry
(:mod:`lapor_sync.sync.claims`); a run whose holder has ended is closed as abandoned
(:mod:`lapor_sync.sync.abandoned`); and a job lease held by its row whose holder has ended is
taken over at once (:mod:`lapor_sync.storage.lease`; a PostgreSQL advisory lock dies with its
session by itself).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from enum import Enum
from functools import cache
from pathlib import Path

_PROC = Path("/proc")
_NAME = re.compile(r"^(?P<host>[^\s:]+):(?P<pid>\d+) .* @(?P<start>\d+)-(?P<scope>[0-9a-f]{8})$")
_ENDED_STATES = ("Z", "X")  # zombie (exited, not yet reaped), dead


class Liveness(Enum):
    """What this process can tell about a holder."""

    ALIVE = "alive"
    """A process of this host (same pid namespace) that still runs: the very incarnation named."""
    GONE = "gone"
    """A process of this host that has ended (its pid is free, or taken by a later process)."""
    UNKNOWN = "unknown"
    """Another host or namespace, no ``/proc`` here, or a name without incarnation: go by expiry."""


def holder_name(purpose: str) -> str:
    """Name this process as a holder: ``"<host>:<pid> <purpose> @<start>-<scope>"`` (see the module)."""
    pid = os.getpid()
    stat = _stat(pid)
    scope = _scope()
    incarnation = "" if stat is None or scope is None else f" @{stat[0]}-{scope}"
    return f"{socket.gethostname()}:{pid} {purpose}{incarnation}"


def liveness(holder: str | None) -> Liveness:
    """Tell whether ``holder`` (a :func:`holder_name`) is a live process of this host, an ended one, or unknown.

    A holder whose ``/proc`` entry cannot be read although its pid exists (``hidepid``, another user)
    is ``UNKNOWN``, never ``GONE``: only a process surely ended may lose what it holds early.
    """
    parsed = _NAME.match(holder or "")
    if parsed is None or parsed["host"] != socket.gethostname() or parsed["scope"] != _scope():
        return Liveness.UNKNOWN
    pid = int(parsed["pid"])
    stat = _stat(pid)
    if stat is None:
        return Liveness.GONE if not _pid_exists(pid) else Liveness.UNKNOWN
    start, state = stat
    return Liveness.ALIVE if start == int(parsed["start"]) and state not in _ENDED_STATES else Liveness.GONE


def is_this_process(holder: str | None) -> bool:
    """Tell whether ``holder`` names this very process (host, pid and incarnation), whatever its purpose."""
    parsed = _NAME.match(holder or "")
    own = _NAME.match(holder_name("-"))
    return (
        parsed is not None
        and own is not None
        and all(parsed[part] == own[part] for part in ("host", "pid", "start", "scope"))
    )


@cache
def _scope() -> str | None:
    """This machine's boot and pid namespace, hashed to 8 hex digits; ``None`` without ``/proc``."""
    try:
        boot = (_PROC / "sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink(_PROC / "self/ns/pid")
    except OSError:
        return None
    return hashlib.blake2b(f"{boot} {namespace}".encode(), digest_size=4).hexdigest()


def _stat(pid: int) -> tuple[int, str] | None:
    """The start time (clock ticks since boot) and state letter of process ``pid``, or ``None``."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()  # the command name, in parentheses, may hold spaces
    try:
        return int(fields[19]), fields[0]  # fields 22 (starttime) and 3 (state) of proc(5)
    except (IndexError, ValueError):
        return None


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True  # it runs, as another user
    return True
