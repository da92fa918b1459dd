"""Fault injection for the simulator: the fault kinds, a seeded plan that decides them, and its counters.

A :class:`FaultPlan` holds a rate per :class:`FaultKind` (the chance that an *applicable* contract
request gets that fault) and a few :class:`FaultSettings`. Each contract request takes the next
number of the plan's sequence; its decisions come from ``random.Random(f"{seed}:{number}")``, so the
same seed and the same request sequence give the same faults, whatever ran in between. Named
profiles and the TOML file format live in :mod:`lapor_sync.simulator.faults.profiles`; the HTTP
side that applies the decisions is :mod:`lapor_sync.simulator.faults.middleware`.

Faults model CONTRACT §2 (gateway errors, 429/503 with ``Retry-After``, a 200 that is no data),
§4 (long content with emoji and HTML) and the hazards §6 asks a client to survive.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class FaultKind(StrEnum):
    """Every fault the simulator can inject; the value is its name in files and counters."""

    TOKEN_EXPIRY = "token_expiry"  # an OAuth2 access token dies before expires_in: 401 on use
    SLOW = "slow"  # the answer comes after FaultSettings.slow_seconds
    # Answers instead of the endpoint (the request never reaches the world), first that fires wins:
    HTTP_500 = "http_500"  # Laravel's JSON {"message": "Server Error"}
    HTTP_502 = "http_502"  # gateway HTML page
    HTTP_503 = "http_503"  # gateway XML fault, Retry-After in seconds or as an HTTP-date
    HTTP_504 = "http_504"  # gateway HTML page
    HTTP_429 = "http_429"  # JSON, Retry-After in seconds or as an HTTP-date
    CONNECTION_RESET = "connection_reset"  # TCP reset without an answer
    READ_TIMEOUT = "read_timeout"  # no answer for FaultSettings.timeout_seconds, then the connection closes
    PAGE_DRIFT = "page_drift"  # inbox page >= 2: a complaint on an earlier page is updated first
    # Writes (POST) that the endpoint applied (200), then lose their answer:
    WRITE_LOST_TIMEOUT = "write_lost_timeout"  # applied, silent for timeout_seconds, connection closed
    WRITE_LOST_DROP = "write_lost_drop"  # applied, connection reset at once
    # A 200 that carries no data:
    HTML_200 = "html_200"
    EMPTY_200 = "empty_200"
    NULL_RESULTS = "null_results"  # {"results": null, "message": ...}
    # Paginator answers (inbox, follow-ups, institutions, categories):
    DUPLICATE_ITEM = "duplicate_item"  # one item twice in the page
    EMPTY_PAGE = "empty_page"  # data [] while next_page_url is set; from/to/total keep their true values
    REPEAT_NEXT_PAGE = "repeat_next_page"  # next_page_url names the page just served
    # Per record (inbox items, complaint detail, follow-ups, the stored follow-up), on the wire copy:
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    IMPOSSIBLE_DATE = "impossible_date"  # e.g. "31-02-2024 10:00:00"
    HUGE_CONTENT = "huge_content"  # content padded to FaultSettings.huge_content_chars
    NUL_BYTE = "nul_byte"
    LONE_SURROGATE = "lone_surrogate"  # JSON "\ud800"
    EMOJI = "emoji"
    HTML_CONTENT = "html_content"
    # Not a rate: counted once per answer whose timestamps FaultSettings.clock_offset_minutes shifted.
    CLOCK_SKEW = "clock_skew"


PRE_ANSWER_KINDS = (
    FaultKind.HTTP_500,
    FaultKind.HTTP_502,
    FaultKind.HTTP_503,
    FaultKind.HTTP_504,
    FaultKind.HTTP_429,
    FaultKind.CONNECTION_RESET,
    FaultKind.READ_TIMEOUT,
)
"""Answers given instead of the endpoint's, in the order they are tried."""
LOST_WRITE_KINDS = (FaultKind.WRITE_LOST_TIMEOUT, FaultKind.WRITE_LOST_DROP)
BAD_BODY_KINDS = (FaultKind.HTML_200, FaultKind.EMPTY_200, FaultKind.NULL_RESULTS)
PAGE_KINDS = (FaultKind.DUPLICATE_ITEM, FaultKind.EMPTY_PAGE, FaultKind.REPEAT_NEXT_PAGE)
RECORD_KINDS = (
    FaultKind.MISSING_FIELD,
    FaultKind.WRONG_TYPE,
    FaultKind.IMPOSSIBLE_DATE,
    FaultKind.HUGE_CONTENT,
    FaultKind.NUL_BYTE,
    FaultKind.LONE_SURROGATE,
    FaultKind.EMOJI,
    FaultKind.HTML_CONTENT,
)
RATED_KINDS = tuple(kind for kind in FaultKind if kind is not FaultKind.CLOCK_SKEW)
"""The kinds that take a rate; the order is the order of the draws for each request."""
_COMPLAINT_IN_PATH = re.compile(r"/complaints/(?:process/)?(\d+)(?:/|$)")


@dataclass(frozen=True, slots=True)
class FaultSettings:
    """Parameters of the faults (not rates).

    Attributes:
        slow_seconds: delay of a ``slow`` answer, seconds.
        timeout_seconds: silence of a ``read_timeout`` or ``write_lost_timeout`` answer before the
            connection is closed, seconds; set the client's read timeout below it.
        retry_after_seconds: the wait a 429 or 503 asks for, seconds (both ``Retry-After`` forms).
        clock_offset_minutes: the server clock's error, minutes (positive: ahead). Every wire
            timestamp goes out shifted by it and ``updated_since`` comes in shifted back, as on a
            server whose clock is wrong but consistent.
        huge_content_chars: length of a ``huge_content`` text, characters.

    Raises:
        ValueError: a negative delay or ``Retry-After``, or ``huge_content_chars`` below 1.
    """

    slow_seconds: float = 0.5
    timeout_seconds: float = 5.0
    retry_after_seconds: int = 1
    clock_offset_minutes: int = 0
    huge_content_chars: int = 70_000

    def __post_init__(self) -> None:
        if min(self.slow_seconds, self.timeout_seconds) < 0 or self.retry_after_seconds < 0:
            raise ValueError("fault delays must not be negative")
        if self.huge_content_chars < 1:
            raise ValueError("huge_content_chars must be positive")


@dataclass(frozen=True, slots=True)
class Draws:
    """One request's decisions: one uniform draw per rated kind, and the generator for the rest."""

    rates: Mapping[FaultKind, float]
    uniform: Mapping[FaultKind, float]
    rng: random.Random

    def fires(self, kind: FaultKind, applicable: bool = True) -> bool:
        """Tell whether ``kind`` hits this request (only when it is ``applicable`` to it)."""
        return applicable and self.uniform[kind] < self.rates.get(kind, 0.0)

    def first(self, kinds: tuple[FaultKind, ...], applicable: bool = True) -> FaultKind | None:
        """Return the first of ``kinds`` that fires, or ``None``."""
        return next((kind for kind in kinds if self.fires(kind, applicable)), None)

    def record_fault(self, kinds: tuple[FaultKind, ...]) -> FaultKind | None:
        """Draw afresh for one record of the answer: the first of ``kinds`` that fires, or ``None``."""
        drawn = [(kind, self.rng.random()) for kind in kinds]
        return next((kind for kind, uniform in drawn if uniform < self.rates.get(kind, 0.0)), None)


@dataclass
class FaultPlan:
    """Rates, settings and a seed; decides the faults of each contract request and counts them.

    Thread-safe: the server thread draws and counts while a test or soak reads the counts.

    Args:
        rates: kind (or its name) -> chance in [0, 1] that an applicable request gets it; missing
            kinds never happen.
        seed: the seed of the decisions.
        settings: delays, clock offset and sizes.
        name: the profile's name, for display.
        complaints: when given, only requests about these complaints (their id in the path: the
            detail, the follow-ups, a status or reject request) get faults; the rest pass untouched.
            One complaint the platform keeps failing, beside others it serves.

    Raises:
        ValueError: an unknown kind, ``clock_skew`` given a rate, or a rate outside [0, 1].
    """

    rates: Mapping[FaultKind | str, float] = field(default_factory=dict)
    seed: int = 0
    settings: FaultSettings = field(default_factory=FaultSettings)
    name: str = "custom"
    complaints: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        checked: dict[FaultKind, float] = {}
        for key, rate in self.rates.items():
            if key not in set(RATED_KINDS):
                raise ValueError(f"unknown fault kind {key!r}; known: {', '.join(RATED_KINDS)}")
            if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
                raise ValueError(f"the rate of {key} must be a number from 0 to 1, not {rate!r}")
            checked[FaultKind(key)] = float(rate)
        self.rates = MappingProxyType(checked)
        self._lock = threading.Lock()
        self._requests = 0
        self._counts: Counter[FaultKind] = Counter()

    @property
    def active(self) -> bool:
        """True when some fault can happen (a positive rate or a clock offset)."""
        return any(self.rates.values()) or self.settings.clock_offset_minutes != 0

    def targets(self, path: str) -> bool:
        """Whether a request for ``path`` may get faults (see ``complaints``)."""
        if not self.complaints:
            return True
        about = _COMPLAINT_IN_PATH.search(path)
        return about is not None and int(about.group(1)) in self.complaints

    def next_request(self) -> Draws:
        """Take the next request number and return its draws (one per rated kind, in order)."""
        with self._lock:
            self._requests += 1
            number = self._requests
        rng = random.Random(f"{self.seed}:{number}")
        uniform = {kind: rng.random() for kind in RATED_KINDS}
        return Draws(self.rates, uniform, rng)

    def record(self, kind: FaultKind) -> None:
        """Count one injected fault of ``kind``."""
        with self._lock:
            self._counts[kind] += 1

    def counts(self) -> dict[str, int]:
        """Return the faults injected so far by this plan: kind name -> count (kinds seen only)."""
        with self._lock:
            return {str(kind): n for kind, n in sorted(self._counts.items())}

    @property
    def requests(self) -> int:
        """The number of contract requests this plan has decided."""
        with self._lock:
            return self._requests


class FaultSwitch:
    """The simulator's current fault plan, replaceable at run time, with counts kept across plans.

    Counting goes through the switch: without its lock, a ``set`` from a test thread racing the
    server thread counting a fault into the plan it has just retired would lose that fault from
    the cumulative counts.

    Args:
        plan: the plan in force at start; ``None`` for no faults.
    """

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self._lock = threading.Lock()
        self._plan = plan
        self._total: Counter[FaultKind] = Counter()

    @property
    def plan(self) -> FaultPlan | None:
        """The plan in force, or ``None`` (no faults)."""
        with self._lock:
            return self._plan

    def set(self, plan: FaultPlan | None) -> None:
        """Put ``plan`` in force (``None``: no faults); counts so far stay in :meth:`counts`."""
        with self._lock:
            self._plan = plan

    def record(self, plan: FaultPlan, kind: FaultKind) -> None:
        """Count one fault of ``kind`` injected under ``plan``, in the plan and in the total."""
        with self._lock:
            plan.record(kind)
            self._total[kind] += 1

    def counts(self) -> dict[str, int]:
        """Return the faults injected since the simulator started, over every plan: name -> count."""
        with self._lock:
            return {str(kind): n for kind, n in sorted(self._total.items())}
