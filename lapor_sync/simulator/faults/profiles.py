"""Named fault profiles (``none``, ``flaky``, ``hostile``) and the TOML file format for custom ones.

File format (every key optional; an unknown key is refused with :class:`FaultFileError`)::

    name = "soak"            # shown in GET /_simulator/faults; default: the file's stem
    base = "hostile"         # start from a named profile's rates and settings; default "none"

    [rates]                  # chance per applicable contract request, 0.0-1.0; a kind left out
    http_500 = 0.05          # keeps the base profile's rate
    write_lost_drop = 0.1
    emoji = 0.0

    [settings]
    slow_seconds = 0.5           # delay of a slow answer
    timeout_seconds = 2.0        # silence before a read_timeout / write_lost_timeout connection closes
    retry_after_seconds = 1      # what 429 and 503 ask for (as seconds or as an HTTP-date)
    clock_offset_minutes = -3    # server clock error: positive ahead, negative behind
    huge_content_chars = 70000   # length of a huge_content text

The rate keys are the names of :class:`~lapor_sync.simulator.faults.plan.FaultKind` except ``clock_skew``
(which follows ``clock_offset_minutes``).
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

from lapor_sync.simulator.faults.plan import (
    BAD_BODY_KINDS,
    LOST_WRITE_KINDS,
    PAGE_KINDS,
    RATED_KINDS,
    RECORD_KINDS,
    FaultKind,
    FaultPlan,
    FaultSettings,
)

_FLAKY: dict[FaultKind, float] = {
    FaultKind.HTTP_500: 0.01,
    FaultKind.HTTP_502: 0.01,
    FaultKind.HTTP_503: 0.01,
    FaultKind.HTTP_504: 0.01,
    FaultKind.HTTP_429: 0.02,
    FaultKind.CONNECTION_RESET: 0.01,
    FaultKind.SLOW: 0.02,
}
_HOSTILE: dict[FaultKind, float] = {
    **{kind: 3 * rate for kind, rate in _FLAKY.items()},
    FaultKind.TOKEN_EXPIRY: 0.02,
    FaultKind.READ_TIMEOUT: 0.01,
    FaultKind.PAGE_DRIFT: 0.10,
    **dict.fromkeys(LOST_WRITE_KINDS, 0.05),
    **dict.fromkeys(BAD_BODY_KINDS, 0.01),
    **dict.fromkeys(PAGE_KINDS, 0.02),
    **dict.fromkeys(RECORD_KINDS, 0.005),
}
PROFILES: dict[str, tuple[dict[FaultKind, float], FaultSettings]] = {
    "none": ({}, FaultSettings()),
    "flaky": (_FLAKY, FaultSettings(slow_seconds=0.3)),
    "hostile": (_HOSTILE, FaultSettings(slow_seconds=0.3, timeout_seconds=3.0, clock_offset_minutes=2)),
}
"""Profile name -> (rates, settings). ``flaky``: low rates of transient answers; ``hostile``: every kind."""

FaultSpec = FaultPlan | str | Path | None
"""What the simulator accepts for its faults: a plan, a profile name, a TOML file path, or none."""


class FaultFileError(ValueError):
    """A fault profile file that cannot be used; the message names the file and the key at fault."""


def profile(name: str, seed: int = 0) -> FaultPlan:
    """Return a fresh plan for the named profile.

    Raises:
        ValueError: an unknown profile name (the message lists the known ones).
    """
    if name not in PROFILES:
        raise ValueError(f"unknown fault profile {name!r}; known: {', '.join(PROFILES)}")
    rates, settings = PROFILES[name]
    return FaultPlan(rates, seed=seed, settings=settings, name=name)


def _refuse_unknown(path: Path, where: str, given: dict[str, object], known: tuple[str, ...]) -> None:
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise FaultFileError(f"{path}: unknown key {where}{unknown[0]!r}; allowed: {', '.join(known)}")


def load_profile_file(path: Path, seed: int = 0) -> FaultPlan:
    """Read a custom profile from a TOML file (format in this module's docstring).

    Raises:
        FaultFileError: unreadable TOML, an unknown key, an unknown base profile, or a bad value.
    """
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as unreadable:
        raise FaultFileError(f"{path}: not a readable TOML file ({unreadable})") from None
    _refuse_unknown(path, "", document, ("name", "base", "rates", "settings"))
    rates_in, settings_in = document.get("rates", {}), document.get("settings", {})
    if not isinstance(rates_in, dict) or not isinstance(settings_in, dict):
        raise FaultFileError(f"{path}: [rates] and [settings] must be tables")
    _refuse_unknown(path, "in [rates]: ", rates_in, tuple(RATED_KINDS))
    _refuse_unknown(path, "in [settings]: ", settings_in, tuple(f.name for f in dataclasses.fields(FaultSettings)))
    name, base = document.get("name", path.stem), document.get("base", "none")
    if not isinstance(name, str) or base not in PROFILES:
        raise FaultFileError(f"{path}: name must be text and base one of {', '.join(PROFILES)}")
    base_rates, base_settings = PROFILES[base]
    try:
        settings = dataclasses.replace(base_settings, **settings_in)
        _check_setting_types(settings)
        return FaultPlan({**base_rates, **rates_in}, seed=seed, settings=settings, name=name)
    except (TypeError, ValueError) as refused:
        raise FaultFileError(f"{path}: {refused}") from None


def _check_setting_types(settings: FaultSettings) -> None:
    """Refuse a setting of the wrong type (TOML gives int, float, str, bool, ...)."""
    for item in dataclasses.fields(FaultSettings):
        value = getattr(settings, item.name)
        whole = item.type in ("int", int)
        ok = isinstance(value, int) if whole else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            raise TypeError(f"setting {item.name} must be {'a whole number' if whole else 'a number'}")


def resolve_faults(spec: FaultSpec, seed: int = 0) -> FaultPlan | None:
    """Turn what a caller gave into a plan: a plan as is, a profile name, or a TOML file path.

    Returns:
        The plan, or ``None`` for ``None`` (no faults). A given plan keeps its own seed.

    Raises:
        ValueError: a string that is neither a profile name nor an existing file.
        FaultFileError: a file that cannot be used.
    """
    if spec is None or isinstance(spec, FaultPlan):
        return spec
    if isinstance(spec, str) and spec in PROFILES:
        return profile(spec, seed)
    if Path(spec).is_file():
        return load_profile_file(Path(spec), seed)
    raise ValueError(f"{spec!s} is neither a fault profile ({', '.join(PROFILES)}) nor a file")
