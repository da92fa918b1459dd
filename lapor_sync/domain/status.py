"""National status codes and the city's internal case states."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class NationalStatus(IntEnum):
    """Status codes of a complaint on SP4N-LAPOR!.

    Source: docs/api.md §3 (names seen in client code, codes assumed).
    Raw codes outside this table are stored as received and never change the internal state.
    """

    UNVERIFIED = 0  # Belum Terverifikasi
    VERIFIED = 1  # Terverifikasi
    IN_PROCESS = 2  # Dalam Proses
    COMPLETED = 3  # Selesai
    ARCHIVED = 4  # Diarsipkan
    REJECTED = 5  # Ditolak

    @property
    def is_final(self) -> bool:
        """True for states where the platform refuses further writes (CONTRACT §5: 422)."""
        return self in (NationalStatus.COMPLETED, NationalStatus.ARCHIVED, NationalStatus.REJECTED)


NATIONAL_STATUS_NAMES: dict[int, str] = {
    0: "Belum Terverifikasi",
    1: "Terverifikasi",
    2: "Dalam Proses",
    3: "Selesai",
    4: "Diarsipkan",
    5: "Ditolak",
}


class CaseState(StrEnum):
    """Where a case stands in the city's own records.

    ``new``: received, no agency follow-up yet; ``in_progress``: an agency is working on it;
    ``completed``: resolved (Selesai); ``archived``: archived and returned to the reporter
    (insufficient supporting data); ``forwarded``: moved to another institution (not our
    authority); ``rejected``: rejected nationally.
    """

    NEW = "new"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    ARCHIVED = "archived"
    FORWARDED = "forwarded"
    REJECTED = "rejected"

    @property
    def is_open(self) -> bool:
        """True while an agency still has work to do on the case."""
        return self in (CaseState.NEW, CaseState.IN_PROGRESS)
