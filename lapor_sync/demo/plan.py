"""The demo's script for the city's agency staff: which complaint ends how.

Outcomes are drawn deterministically from a seed so that, by 31 October 2024, the city's figures
match the article (the news item in docs/domain.md): 1,983 handled, 1,924 completed, 11 in
process, and 48 archived and returned, split between insufficient supporting data and outside
the city's authority.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Outcome(StrEnum):
    """How the simulated staff handle one complaint."""

    COMPLETE = "complete"  # follow-up, then Selesai at the next weekly round
    AUTO_CLOSE = "auto_close"  # follow-up only; LAPOR! closes it after 10 working days
    IN_PROCESS = "in_process"  # follow-up only, still open at the end of the period
    RETURN = "return"  # archived and returned: insufficient supporting data
    FORWARD = "forward"  # not the city's authority: forwarded to another institution


@dataclass(frozen=True)
class Targets:
    """The article's figures the plan must reach (docs/domain.md, the news item and "Volumes")."""

    in_process: int = 11
    returned: int = 24
    forwarded: int = 24
    auto_close_share: float = 0.25


# Where a complaint outside the city's authority goes, by LAPOR category (docs/domain.md, routing table:
# "outside city authority"); anything else goes to the province.
FORWARD_TARGETS: dict[str, int] = {
    "Penanggulangan Bencana": 6201,  # province-wide forest fires: BPBD Provinsi
    "Ketentraman, Ketertiban Umum, dan Perlindungan Masyarakat": 9001,  # criminal acts: Polda
    "Pekerjaan Umum dan Penataan Ruang": 9004,  # national roads
    "Sosial dan Kesejahteraan": 9002,  # national programmes: Kemensos
    "Bantuan Masyarakat": 9002,
    "Kesehatan": 9003,  # BPJS Kesehatan
}
PROVINCE = 62


@dataclass(frozen=True)
class PlannedComplaint:
    """What the plan needs to know of a complaint: id, disposition time (aware), category."""

    complaint_id: int
    dispositioned_at: datetime
    category_name: str | None


def forward_target(category_name: str | None) -> int:
    """Return the institution a complaint of ``category_name`` is forwarded to."""
    return FORWARD_TARGETS.get(category_name or "", PROVINCE)


def draw_outcomes(
    complaints: list[PlannedComplaint], *, period_end: datetime, seed: int, targets: Targets = Targets()
) -> dict[int, Outcome]:
    """Assign an outcome to every complaint so the totals hit ``targets`` exactly.

    Late complaints (last ten days) are the ones still in process at ``period_end``; returns and
    forwards are drawn from complaints at least two weeks old so the platform's admin has approved
    them by then; auto-closing is left to complaints old enough for the 10 working days to pass.

    Raises:
        ValueError: when there are too few complaints in a window to reach a target.
    """
    rng = random.Random(seed)
    by_age = sorted(complaints, key=lambda c: (c.dispositioned_at, c.complaint_id))
    late = [c for c in by_age if (period_end - c.dispositioned_at).days < 10]
    settled = [c for c in by_age if (period_end - c.dispositioned_at).days >= 17]
    old = {c.complaint_id for c in by_age if (period_end - c.dispositioned_at).days >= 45}
    if len(late) < targets.in_process or len(settled) < targets.returned + targets.forwarded:
        raise ValueError("too few complaints in the period to reach the article's figures")
    outcomes = {c.complaint_id: Outcome.COMPLETE for c in by_age}
    for c in rng.sample(late, targets.in_process):
        outcomes[c.complaint_id] = Outcome.IN_PROCESS
    chosen = rng.sample(settled, targets.returned + targets.forwarded)
    for i, c in enumerate(chosen):
        outcomes[c.complaint_id] = Outcome.RETURN if i < targets.returned else Outcome.FORWARD
    for complaint_id in sorted(old):
        if outcomes[complaint_id] is Outcome.COMPLETE and rng.random() < targets.auto_close_share:
            outcomes[complaint_id] = Outcome.AUTO_CLOSE
    return outcomes
