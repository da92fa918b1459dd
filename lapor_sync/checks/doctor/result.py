"""What ``lapor-sync doctor`` found: one :class:`Check` per layer, and the verdict as an exit code."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

EXIT_OK = 0  # every check passed
EXIT_FAILED = 1  # a check of the way to LAPOR! failed (as `status`: degraded)
EXIT_CANNOT_RUN = 2  # the settings are wrong: nothing could be checked (as `status`: failing)


class Step(StrEnum):
    """The layers the doctor walks, in the order a request crosses them."""

    SETTINGS = "settings"
    DNS = "DNS"
    TCP = "TCP"
    PROXY = "proxy"  # only when a proxy is used
    TLS = "TLS"
    GATEWAY_KEY = "gateway key"
    GATEWAY = "gateway"
    LAPOR = "LAPOR!"
    INSTITUTION = "institution"
    INBOX = "inbox"
    QUOTA = "quota"


@dataclass(frozen=True)
class Check:
    """The outcome of one step.

    Attributes:
        step: which layer.
        ok: ``True`` passed, ``False`` failed, ``None`` not checked (skipped, or nothing to check).
        detail: what was found, one line, free of secrets (header names only, never their values).
        fix: what to do about a failure, naming the setting to change; ``None`` when nothing is to be done.
    """

    step: Step
    ok: bool | None
    detail: str
    fix: str | None = None

    @classmethod
    def passed(cls, step: Step, detail: str) -> Check:
        """A step that passed."""
        return cls(step, True, detail)

    @classmethod
    def failed(cls, step: Step, detail: str, fix: str) -> Check:
        """A step that failed, with its fix."""
        return cls(step, False, detail, fix)

    @classmethod
    def skipped(cls, step: Step, why: str = "skipped") -> Check:
        """A step not checked."""
        return cls(step, None, why)

    def as_dict(self) -> dict[str, object]:
        """``{"step", "ok", "detail", "fix"}`` for ``--json``."""
        return asdict(self) | {"step": self.step.value}


@dataclass(frozen=True)
class DoctorReport:
    """Every step's :class:`Check`, in order, and the requests the doctor sent to the national side.

    Attributes:
        checks: one per :class:`Step`, in order.
        requests: HTTP requests sent to the gateway (the OAuth2 token request included).
    """

    checks: tuple[Check, ...]
    requests: int = 0

    @property
    def exit_code(self) -> int:
        """:data:`EXIT_CANNOT_RUN` when the settings failed, :data:`EXIT_FAILED` when another step did, else 0."""
        failed = {check.step for check in self.checks if check.ok is False}
        if Step.SETTINGS in failed:
            return EXIT_CANNOT_RUN
        return EXIT_FAILED if failed else EXIT_OK

    def as_list(self) -> list[dict[str, object]]:
        """The checks as ``--json`` prints them."""
        return [check.as_dict() for check in self.checks]
