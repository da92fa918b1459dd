"""The simulated SPLP gateway's settings and state: its keys, its quota, its scripted faults, its counts."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from lapor_sync.simulator.gateway.faults import FaultFormat
from lapor_sync.simulator.gateway.keys import KeyType, SplpKeys
from lapor_sync.simulator.gateway.quota import MinuteQuota
from lapor_sync.simulator.gateway.script import FaultScript
from lapor_sync.simulator.paths import BASE_PATH, SANDBOX_PATH, VARIANT_SUFFIX

DEFAULT_HEADER = "AuthorizationSPLP"
"""The header of the SPLP key (CONTRACT §7 G5)."""
DEFAULT_QUOTA = 10
"""Requests per minute per key: the quota one production SPLP client keeps to (CONTRACT §7 G4)."""
BASE_PATHS = {KeyType.PRODUCTION: BASE_PATH, KeyType.SANDBOX: SANDBOX_PATH}
"""The base path of each environment; a key works only under the base path of its ``keytype`` (G2)."""


class GatewayMode(StrEnum):
    """What stands in front of the simulated LAPOR!: nothing, or an SPLP (WSO2-like) gateway."""

    NONE = "none"
    SPLP = "splp"


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """How the simulated gateway behaves.

    Attributes:
        header: the request header carrying ``Bearer <SPLP key>`` (G5).
        quota_per_minute: requests per key per fixed one-minute window; 0 turns the quota off (G3, G4).
        fault_format: JSON or XML fault bodies (G1).
        key_lifetime: seconds from start until the minted keys' ``exp``; ``None``: no ``exp`` (G5).
        clock: epoch seconds (UTC), for ``iat``, ``exp`` and the quota's windows; injectable for tests.

    Raises:
        ValueError: an empty header name, a negative quota or a key lifetime below 1.
    """

    header: str = DEFAULT_HEADER
    quota_per_minute: int = DEFAULT_QUOTA
    fault_format: FaultFormat = FaultFormat.JSON
    key_lifetime: int | None = None
    clock: Callable[[], float] = field(default=time.time, compare=False)

    def __post_init__(self) -> None:
        if not self.header.strip():
            raise ValueError("the gateway's key header needs a name")
        if self.quota_per_minute < 0:
            raise ValueError("the quota must not be negative (0 turns it off)")
        if self.key_lifetime is not None and self.key_lifetime < 1:
            raise ValueError("the key lifetime must be at least one second")


class Gateway:
    """One simulated SPLP gateway: the keys it minted at start, its quota, its scripted faults, its counts.

    Thread-safe: the server thread checks and counts while a test scripts faults or reads counts.

    Args:
        settings: how it behaves.
    """

    def __init__(self, settings: GatewaySettings | None = None) -> None:
        self.settings = settings or GatewaySettings()
        self.keys = SplpKeys(int(self.settings.clock()), self.settings.key_lifetime)
        self.quota = MinuteQuota(self.settings.quota_per_minute, self.settings.clock)
        self.script = FaultScript()
        self._lock = threading.Lock()
        self._refused: Counter[int] = Counter()
        self._passed: Counter[str] = Counter()

    @staticmethod
    def environment(path: str) -> KeyType | None:
        """The environment whose base path ``path`` is under, or ``None`` (admin, token URL, elsewhere)."""
        return next((kind for kind, base in BASE_PATHS.items() if path.startswith(base + "/")), None)

    def refused(self, code: int) -> None:
        """Count one request the gateway answered with fault ``code``."""
        with self._lock:
            self._refused[code] += 1

    def passed(self, environment: KeyType, path: str) -> None:
        """Count one request let through to LAPOR!, by environment and by endpoint variant."""
        variant = "lmw" if path.endswith(VARIANT_SUFFIX) else "contract"
        with self._lock:
            self._passed[environment.value.lower()] += 1
            self._passed[variant] += 1

    def state(self) -> dict[str, object]:
        """What ``GET /_simulator/gateway`` shows: settings, the fake keys, waiting faults and counts."""
        with self._lock:
            refused = {str(code): n for code, n in sorted(self._refused.items())}
            passed = dict(self._passed)
        return {
            "mode": GatewayMode.SPLP.value,
            "header": self.settings.header,
            "fault_format": self.settings.fault_format.value,
            "quota_per_minute": self.settings.quota_per_minute,
            "quota_window": "fixed, whole minutes",
            "base_paths": {kind.value.lower(): base for kind, base in BASE_PATHS.items()},
            "variant_suffix": VARIANT_SUFFIX,
            "keys": {"production": self.keys.production.token, "sandbox": self.keys.sandbox.token},
            "scripted": self.script.waiting(),
            "refused": refused,
            "passed": {name: passed.get(name, 0) for name in ("production", "sandbox", "contract", "lmw")},
        }
