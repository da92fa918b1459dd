"""Reference data the simulated national platform holds: institutions, categories, channels, places.

The simulator is "the other side" of the integration, so it ships its own copy of these tables
rather than reading the city's mapping files: ids and names follow the project's shared facts
(institution 6271 and its sub-units, categories 1..43 in docs/domain.md order).
"""

from __future__ import annotations

from dataclasses import dataclass

CITY_ID = 6271
"""The caller's institution: Pemerintah Kota Palangka Raya."""

NATIONAL_ADMIN_ID = 1
"""The platform's own admin, shown as the sender of dispositions and admin decisions."""


@dataclass(frozen=True, slots=True)
class Institution:
    """An institution on the platform (``parent_id`` 0 for a top-level one)."""

    id: int
    name: str
    parent_id: int


INSTITUTIONS: dict[int, Institution] = {
    i.id: i
    for i in (
        Institution(NATIONAL_ADMIN_ID, "Admin Nasional SP4N-LAPOR!", 0),
        Institution(CITY_ID, "Pemerintah Kota Palangka Raya", 0),
        Institution(627101, "Dinas Pekerjaan Umum dan Penataan Ruang", CITY_ID),
        Institution(627102, "Dinas Perumahan Rakyat, Kawasan Permukiman dan Pertanahan", CITY_ID),
        Institution(627103, "Dinas Perhubungan", CITY_ID),
        Institution(627104, "Dinas Sosial", CITY_ID),
        Institution(627105, "Satuan Polisi Pamong Praja", CITY_ID),
        Institution(627106, "Badan Penanggulangan Bencana Daerah", CITY_ID),
        Institution(627107, "Dinas Pemadam Kebakaran dan Penyelamatan", CITY_ID),
        Institution(627108, "Dinas Lingkungan Hidup", CITY_ID),
        Institution(627109, "Dinas Kependudukan dan Pencatatan Sipil", CITY_ID),
        Institution(627110, "Dinas Komunikasi, Informatika, Statistik dan Persandian", CITY_ID),
        Institution(627111, "Dinas Kesehatan", CITY_ID),
        Institution(627112, "Dinas Pertanian dan Ketahanan Pangan", CITY_ID),
        Institution(62, "Pemerintah Provinsi Kalimantan Tengah", 0),
        Institution(6201, "BPBD Provinsi Kalimantan Tengah", 62),
        Institution(9001, "Kepolisian Daerah Kalimantan Tengah", 0),
        Institution(9002, "Kementerian Sosial", 0),
        Institution(9003, "BPJS Kesehatan", 0),
        Institution(9004, "Kementerian Pekerjaan Umum", 0),
    )
}


def institution_tree(root_id: int) -> frozenset[int]:
    """Return ``root_id`` and the ids of its direct sub-units."""
    return frozenset({root_id} | {i.id for i in INSTITUTIONS.values() if i.parent_id == root_id})


def institution_name(institution_id: int | None) -> str | None:
    """Return the name of a known institution, ``None`` for ``None`` or an unknown id."""
    found = INSTITUTIONS.get(institution_id) if institution_id is not None else None
    return found.name if found else None


CATEGORIES: tuple[str, ...] = (
    "Agama",
    "Bantuan Masyarakat",
    "Corona Virus",
    "Daerah Perbatasan",
    "Ekonomi dan Keuangan",
    "Energi dan Sumber Daya Alam",
    "Industri dan Perdagangan",
    "Kekerasan di Satuan Pendidikan",
    "Keluarga Berencana",
    "Kepemudaan dan Olahraga",
    "Kependudukan",
    "Kesehatan",
    "Kesetaraan Gender dan Sosial Inklusif",
    "Ketenagakerjaan",
    "Ketentraman, Ketertiban Umum, dan Perlindungan Masyarakat",
    "Lingkungan Hidup dan Kehutanan",
    "Luar Negeri",
    "Manajemen ASN",
    "Mudik",
    "Netralitas ASN",
    "P4GN",
    "Pariwisata dan Ekonomi Kreatif",
    "Pekerjaan Umum dan Penataan Ruang",
    "Pelayanan Publik",
    "Pemberdayaan Masyarakat, Koperasi, dan UMKM",
    "Pembangunan Desa, Daerah Tertinggal, dan Transmigrasi",
    "Pemulihan Ekonomi Nasional",
    "Pendidikan dan Kebudayaan",
    "Penanggulangan Bencana",
    "Perairan",
    "Perhubungan",
    "Perlindungan Konsumen",
    "Pertanahan",
    "Pertanian dan Peternakan",
    "Perumahan",
    "Politik dan Hukum",
    "Politisasi ASN",
    "Sosial dan Kesejahteraan",
    "SP4N Lapor",
    "Teknologi Informasi dan Komunikasi",
    "TNI/Polri",
    "Topik Khusus",
    "Topik Lainnya",
)
"""Category names; the id of a name is its 1-based position (Agama=1 ... Topik Lainnya=43)."""


def category_id(name: str) -> int:
    """Return the id of a category name; raises ``ValueError`` for an unknown name."""
    return CATEGORIES.index(name) + 1


def category_name(category: int) -> str:
    """Return the name of category id ``category`` (1..43); raises ``IndexError`` otherwise."""
    if not 1 <= category <= len(CATEGORIES):
        raise IndexError(f"unknown category id {category}")
    return CATEGORIES[category - 1]


CHANNELS: dict[int, str] = {
    1: "Website",
    2: "SMS 1708",
    3: "Aplikasi Mobile",
    4: "Twitter @LAPOR1708",
    5: "Loket Pengaduan",
    6: "Kanal Terintegrasi",
}

CLASSIFICATIONS: dict[int, str] = {1: "Pengaduan", 2: "Aspirasi", 3: "Permintaan Informasi"}

KECAMATAN: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Pahandut",
        ("Pahandut", "Panarung", "Langkai", "Tumbang Rungan", "Pahandut Seberang", "Tanjung Pinang"),
    ),
    (
        "Bukit Batu",
        ("Marang", "Tumbang Tahai", "Banturung", "Tangkiling", "Sei Gohong", "Kanarakan", "Habaring Hurung"),
    ),
    ("Jekan Raya", ("Palangka", "Menteng", "Bukit Tunggal", "Petuk Katimpun")),
    (
        "Sabangau",
        ("Bereng Bengkel", "Kalampangan", "Kereng Bangkirai", "Kameloh Baru", "Danau Tundai", "Sabaru"),
    ),
    (
        "Rakumpit",
        ("Petuk Bukit", "Panjehang", "Petuk Barunai", "Mungku Baru", "Pager", "Gaung Baru", "Bukit Sua"),
    ),
)
"""Kecamatan in region-code order (62.71.01 ... 62.71.05) with their kelurahan (docs/domain.md)."""


@dataclass(frozen=True, slots=True)
class Place:
    """A kelurahan as the platform stores it: a derived ``location_id`` and a free-text name."""

    location_id: int
    kelurahan: str
    kecamatan: str

    @property
    def location_name(self) -> str:
        """The free-text place, e.g. ``"Kel. Menteng, Kec. Jekan Raya, Kota Palangka Raya"``."""
        return f"Kel. {self.kelurahan}, Kec. {self.kecamatan}, Kota Palangka Raya"


# location_id follows the kelurahan region-code pattern 62.71.KK.1NNN written as one integer.
PLACES: tuple[Place, ...] = tuple(
    Place(int(f"6271{k:02d}1{n:03d}"), kelurahan, kecamatan)
    for k, (kecamatan, kelurahans) in enumerate(KECAMATAN, start=1)
    for n, kelurahan in enumerate(kelurahans, start=1)
)
