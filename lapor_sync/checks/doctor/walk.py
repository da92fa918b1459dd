"""``lapor-sync doctor``'s walk: each layer between this machine and LAPOR!, in order, stopping at the first failure.

1 settings, 2 DNS, 3 TCP, (the proxy's tunnel, when one is used), 4 TLS, 5 gateway key, 6 gateway credentials, 7 LAPOR credentials,
8 the institution visible, 9 the inbox readable, 10 quota. After a failure the later steps are
skipped (nothing more is sent), except the quota line, which only reports what was spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lapor_sync.checks.doctor.configuration import Prepared, check_settings
from lapor_sync.checks.doctor.gateway_key import check_gateway_key
from lapor_sync.checks.doctor.national import Spent, check_national
from lapor_sync.checks.doctor.network import (
    Connector,
    Resolver,
    check_dns,
    check_tcp,
    check_tls,
    system_connector,
    system_resolver,
)
from lapor_sync.checks.doctor.proxy import check_proxy
from lapor_sync.checks.doctor.quota import check_quota
from lapor_sync.checks.doctor.result import Check, DoctorReport, Step

DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Network:
    """How the doctor looks names up and opens connections (tests inject their own)."""

    resolve: Resolver = system_resolver
    connect: Connector = system_connector


def run_doctor(
    config_file: Path | None, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, network: Network | None = None
) -> DoctorReport:
    """Walk the layers and return one :class:`Check` per :class:`Step`, in order.

    Args:
        config_file: the ``--config`` TOML file, or ``None`` (the environment alone).
        timeout: the longest each step may take, seconds (a request: also at most
            ``request_deadline_seconds``).
        network: the resolver and connector; the system's by default.

    Returns:
        The report; its ``exit_code`` is 0 all passed, 1 a step failed, 2 the settings failed.
    """
    settings_check, prepared = check_settings(config_file, timeout=timeout)
    if prepared is None:
        return DoctorReport(
            (settings_check, *(Check.skipped(step) for step in list(Step)[1:] if step is not Step.PROXY))
        )
    checks = [settings_check, *_below_http(prepared, network or Network(), timeout)]
    spent = Spent()
    throttled = None
    if all(check.ok is not False for check in checks):
        checks.append(check_gateway_key(prepared.app.settings, prepared.app.clock.now()))
    if all(check.ok is not False for check in checks):
        findings = check_national(prepared.app, spent, timeout=timeout)
        checks += findings.checks
        throttled = findings.throttled
    done = {check.step for check in checks}
    unshown = {Step.QUOTA} | (set() if prepared.target.proxy else {Step.PROXY})
    checks += [Check.skipped(step) for step in Step if step not in done and step not in unshown]
    checks.append(check_quota(prepared.app.settings, spent, throttled))
    return DoctorReport(tuple(checks), spent.requests)


def _below_http(prepared: Prepared, network: Network, timeout: float) -> list[Check]:
    """Steps 2-4 (and the proxy's tunnel between TCP and TLS), up to the first that fails."""
    target = prepared.target
    dns, addresses = check_dns(target, network.resolve, timeout)
    if not dns.ok:
        return [dns]
    tcp, sock = check_tcp(target, addresses, network.connect, timeout)
    if sock is None:
        return [dns, tcp]
    if target.proxy is None:
        return [dns, tcp, check_tls(target, sock, prepared.tls, timeout)]
    tunnel, tunnelled = check_proxy(target.host, target.port, target.proxy, sock, timeout)
    if tunnel.ok is False:
        return [dns, tcp, tunnel]
    return [dns, tcp, tunnel, check_tls(target, sock, prepared.tls, timeout, tunnelled=tunnelled)]
