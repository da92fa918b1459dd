"""Loopback or not: who can reach a host or a port of this machine, and how a server says so when it starts."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """Tell whether ``host`` names this machine only: 127.0.0.0/8, ``::1`` (bracketed or not) or ``localhost``.

    ``0.0.0.0`` and ``::`` (every interface) and any other name or address are not loopback.
    """
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def listening_notice(url: str, host: str, *, how_to_expose: str, exposed_risk: str) -> str:
    """Word where a server listens and who can reach it; show it at start (a warning when not loopback).

    Args:
        url: what to open, e.g. ``http://127.0.0.1:8765``.
        host: the address it is bound to.
        how_to_expose: the option that would make it reachable, e.g. ``"--host 0.0.0.0 exposes it"``.
        exposed_risk: what anyone on the network could then do, e.g.
            ``"the simulator has no real authentication"``.

    Returns:
        ``listening on <url> (loopback only: not reachable from other machines; <how_to_expose>)`` on
        loopback, else ``listening on <url>: reachable from the network; <exposed_risk>``.
    """
    if is_loopback(host):
        return f"listening on {url} (loopback only: not reachable from other machines; {how_to_expose})"
    return f"listening on {url}: reachable from the network; {exposed_risk}"
