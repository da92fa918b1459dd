"""The deterministic data set "palangka-raya-2024": 1,983 complaints dispositioned to the city.

Figures from docs/domain.md (the news item that started the project, and "Volumes"): 1,983
complaints from January to October 2024, about 8-10 per working day, the article's five sectors
the largest. Same seed, same data.
Another size N (for benchmarks) keeps the shape: the same proportions of categories, agencies,
channels, flags and long bodies, over the same working days, N / 1,983 times as many each day.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from lapor_sync.domain.status import NationalStatus
from lapor_sync.simulator.catalog import CITY_ID, NATIONAL_ADMIN_ID, PLACES, Place, category_id
from lapor_sync.simulator.model import Attachment, Complaint, Counters, DataLog, Reporter, StatusLog
from lapor_sync.simulator.store import DISPOSITION_LOG
from lapor_sync.simulator.texts import compose_complaint, fictitious_reporter
from lapor_sync.simulator.workdays import WIB, working_days_between

DATASET_NAME = "palangka-raya-2024"
TOTAL = 1983
FIRST_DAY, LAST_DAY = date(2024, 1, 1), date(2024, 10, 31)
DIRECT_TO_AGENCY_RATE = 0.66  # of mapped categories (~90% of all): ~60% of all complaints

# Category -> (relative weight, agency sub-unit or None when only the city can triage it).
CATEGORY_MIX: dict[str, tuple[float, int | None]] = {
    "Sosial dan Kesejahteraan": (15, 627104),
    "Bantuan Masyarakat": (8, 627104),
    "Pekerjaan Umum dan Penataan Ruang": (18, 627101),
    "Perhubungan": (12, 627103),
    "Penanggulangan Bencana": (6, 627107),
    "Kesehatan": (5, 627111),
    "Ketentraman, Ketertiban Umum, dan Perlindungan Masyarakat": (10, 627105),
    "Lingkungan Hidup dan Kehutanan": (5, 627108),
    "Kependudukan": (4, 627109),
    "Perumahan": (3, 627102),
    "Pertanahan": (1, 627102),
    "Teknologi Informasi dan Komunikasi": (1.5, 627110),
    "SP4N Lapor": (0.5, 627110),
    "Pertanian dan Peternakan": (1, 627112),
    "Pelayanan Publik": (2, None),
    "Pendidikan dan Kebudayaan": (2, None),
    "Ekonomi dan Keuangan": (1, None),
    "Ketenagakerjaan": (1, None),
    "Pemberdayaan Masyarakat, Koperasi, dan UMKM": (1, None),
    "Topik Lainnya": (2, None),
}
_DRAWS_PER_STEP = 50  # the spreading loop's limit, per complaint to move and per day (see _daily_counts)
_CHANNEL_WEIGHTS = {1: 33, 2: 8, 3: 37, 4: 5, 5: 7, 6: 10}
_CLASSIFICATION_WEIGHTS = {1: 70, 2: 20, 3: 10}
# Jekan Raya and Pahandut hold most of the city's people; Rakumpit is sparsely settled.
_KECAMATAN_WEIGHTS = {"Pahandut": 30, "Bukit Batu": 10, "Jekan Raya": 45, "Sabangau": 12, "Rakumpit": 3}
_PLACE_WEIGHTS = [_KECAMATAN_WEIGHTS[p.kecamatan] / sum(q.kecamatan == p.kecamatan for q in PLACES) for p in PLACES]


def generate(seed: int = 2024, complaints: int = TOTAL) -> tuple[list[Complaint], Counters]:
    """Generate the data set.

    Args:
        seed: the seed of the one ``random.Random`` used; same seed (and size), identical data.
        complaints: how many complaints, N >= 1 (default the article's 1,983, the demo's data set,
            unchanged by this option); each working day gets about N / 1,983 times 8-12 of them.

    Returns:
        The complaints in disposition order (complaint ids 3,100,001 upward) and the id counters
        to continue from. Each complaint is Terverifikasi, dispositioned on a working day between
        08:00 and 16:00 WIB in 1 Jan - 31 Oct 2024.

    Raises:
        ValueError: ``complaints`` below 1, or more than the period's office seconds can hold.
    """
    rng = random.Random(seed)
    days = working_days_between(FIRST_DAY, LAST_DAY)
    counts = _daily_counts(rng, len(days), complaints)
    counters = Counters()
    generated: list[Complaint] = []
    for day, count in zip(days, counts, strict=True):
        for second in sorted(rng.sample(range(8 * 3600, 16 * 3600 + 1), count)):
            at = datetime.combine(day, time(), WIB) + timedelta(seconds=second)
            generated.append(_random_complaint(rng, counters, at, serial=len(generated)))
    return generated, counters


def _daily_counts(rng: random.Random, days: int, total: int) -> list[int]:
    """Spread exactly ``total`` complaints over ``days`` days, 8-12 each for 1,983, scaled for another total.

    The scale is exactly 1 for 1,983, so the default draws what it always drew. Each adjusting
    step moves one complaint between the sum and the target, so ``|total - sum|`` useful steps
    are needed; a step on a day already at its bound is redrawn, and the bounds leave room on
    at least one day, so a useful step comes at least once in ``days`` draws on average: the
    limit of :data:`_DRAWS_PER_STEP` times that is never reached in practice.

    Raises:
        ValueError: ``total`` below 1 or above what ``days`` days of office seconds (08:00-16:00) hold.
        RuntimeError: the draws ran out before the counts added up (the limit above).
    """
    per_day_limit = 8 * 3600 + 1
    if not 1 <= total <= days * per_day_limit:
        raise ValueError(f"complaints must be between 1 and {days * per_day_limit:,}")
    scale = total / TOTAL
    low, high = math.floor(8 * scale), min(per_day_limit, max(1, math.ceil(12 * scale)))
    choices = tuple(min(high, max(low, round(n * scale))) for n in (8, 9, 10, 10, 11, 12))
    counts = [rng.choice(choices) for _ in range(days)]
    gap = total - sum(counts)
    for _ in range(_DRAWS_PER_STEP * days * (abs(gap) + 1)):
        if gap == 0:
            break
        i = rng.randrange(days)
        if gap > 0 and counts[i] < high:
            counts[i] += 1
            gap -= 1
        elif gap < 0 and counts[i] > low:
            counts[i] -= 1
            gap += 1
    if gap != 0:
        raise RuntimeError("the daily counts did not add up within the limit of draws")
    return counts


def _pick(rng: random.Random, weights: dict[int, int]) -> int:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _random_complaint(rng: random.Random, counters: Counters, at: datetime, *, serial: int) -> Complaint:
    names = list(CATEGORY_MIX)
    category = rng.choices(names, weights=[CATEGORY_MIX[n][0] for n in names])[0]
    agency = CATEGORY_MIX[category][1]
    place = rng.choices(PLACES, weights=_PLACE_WEIGHTS)[0]
    # Equal texts share one string (a few thousand distinct ones): about 40 MB less at N = 100,000.
    title, content = map(sys.intern, compose_complaint(rng, category, place))
    anonymous = rng.random() < 0.15
    created_at = at - timedelta(seconds=rng.randint(600, 3 * 86400))
    incident_day = created_at.astimezone(WIB).date() - timedelta(days=rng.randint(0, 10))
    incident = None if rng.random() < 0.25 else incident_day
    photos = [f"foto_{n}.jpg" for n in range(1, rng.randint(1, 2) + 1)] if rng.random() < 0.2 else []
    return build_complaint(
        counters,
        dispositioned_at=at,
        created_at=created_at,
        disposition_id=agency if agency and rng.random() < DIRECT_TO_AGENCY_RATE else CITY_ID,
        category_id=category_id(category),
        title=title,
        content=content,
        place=place,
        classification_id=_pick(rng, _CLASSIFICATION_WEIGHTS),
        channel=_pick(rng, _CHANNEL_WEIGHTS),
        is_anonymous=anonymous,
        is_secret=rng.random() < 0.05,
        is_priority=rng.random() < 0.03,
        reporter=None if anonymous else fictitious_reporter(rng, serial),
        date_of_incident=incident,
        attachment_names=photos,
        tracking_step=rng.randint(20, 400),
    )


def build_complaint(
    counters: Counters,
    *,
    dispositioned_at: datetime,
    created_at: datetime,
    disposition_id: int,
    category_id: int,
    title: str,
    content: str,
    place: Place,
    classification_id: int = 1,
    channel: int = 1,
    is_anonymous: bool = False,
    is_secret: bool = False,
    is_priority: bool = False,
    reporter: Reporter | None = None,
    date_of_incident: date | None = None,
    attachment_names: Sequence[str] = (),
    tracking_step: int = 137,
) -> Complaint:
    """Build a complaint as it stands right after its disposition (Terverifikasi).

    Takes the next complaint id, the next tracking id (the one after is ``tracking_step`` higher) and ids
    for its disposition log and attachments from ``counters``. Datetimes are aware; stored in UTC.
    """
    complaint_id = counters.take("complaint_id")
    tracking_id = str(counters.take("tracking_id", tracking_step))
    at, created_at = dispositioned_at.astimezone(UTC), created_at.astimezone(UTC)
    return Complaint(
        complaint_id=complaint_id,
        tracking_id=tracking_id,
        title=title,
        content=content,
        classification_id=classification_id,
        category_id=category_id,
        status_code=NationalStatus.VERIFIED,
        disposition_id=disposition_id,
        first_disposition_id=disposition_id,
        is_anonymous=is_anonymous,
        is_secret=is_secret,
        is_priority=is_priority,
        channel=channel,
        location_id=place.location_id,
        location_name=sys.intern(place.location_name),
        date_of_incident=date_of_incident,
        created_at=created_at,
        dispositioned_at=at,
        updated_at=at,
        reporter=None if is_anonymous else reporter,
        attachments=[
            Attachment(n, name, name.rsplit(".", 1)[-1], f"/storage/complaints/{tracking_id}/{name}")
            for n, name in ((counters.take("attachment_id"), name) for name in attachment_names)
        ],
        status_logs=[
            StatusLog(NationalStatus.UNVERIFIED, "Laporan diterima", created_at),
            StatusLog(NationalStatus.VERIFIED, "Laporan diverifikasi dan didisposisikan", at),
        ],
        data_logs=[
            DataLog(
                id=counters.take("data_log_id"),
                template_code="disposition",
                content=DISPOSITION_LOG,
                institution_from_id=NATIONAL_ADMIN_ID,
                institution_to_id=disposition_id,
                status_old=NationalStatus.UNVERIFIED,
                status_new=NationalStatus.VERIFIED,
                created_at=at,
            )
        ],
    )
