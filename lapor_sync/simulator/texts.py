"""Indonesian complaint texts, reporter replies and obviously fictitious reporters for simulated data.

Every choice comes from the ``random.Random`` passed in, so the data set stays deterministic.
Some texts carry what the real platform delivers (CONTRACT §4): emoji, HTML fragments, CR LF line breaks.
"""

from __future__ import annotations

import random

from lapor_sync.simulator.catalog import Place
from lapor_sync.simulator.model import Reporter

# Category name -> (titles, bodies), the i-th title heading the i-th body. Placeholders: {kel}, {kec}, {jalan}.
_TEMPLATES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Sosial dan Kesejahteraan": (
        ("Bantuan sosial belum diterima di {kel}", "Data penerima PKH di {kel} tidak sesuai"),
        (
            "Kami warga Kelurahan {kel}, Kecamatan {kec}, sudah terdaftar di DTKS tetapi bantuan belum "
            "cair sejak tiga bulan. Mohon dicek datanya.",
            "Ada lansia terlantar di sekitar Jalan {jalan}, Kelurahan {kel}. Mohon bantuan Dinas Sosial.",
        ),
    ),
    "Bantuan Masyarakat": (
        ("Pembagian sembako di {kel} tidak merata", "BLT belum sampai ke warga {kel}"),
        (
            "Pembagian bantuan sembako di Kelurahan {kel} hanya untuk sebagian RT. Mohon pendataan ulang.",
            "Warga Jalan {jalan}, Kelurahan {kel} belum menerima BLT padahal sudah diumumkan cair.",
        ),
    ),
    "Pekerjaan Umum dan Penataan Ruang": (
        (
            "Jalan rusak berlubang di Jalan {jalan}",
            "Drainase tersumbat di {kel}",
            "Lampu jalan mati di Jalan {jalan}",
        ),
        (
            "Jalan {jalan}, Kelurahan {kel}, Kecamatan {kec} rusak parah dan berlubang besar. Sudah ada "
            "pengendara motor yang jatuh. Mohon segera diperbaiki.",
            "Saluran drainase di Jalan {jalan}, Kelurahan {kel} tersumbat sehingga air meluap ke jalan setiap hujan.",
            "Lampu penerangan jalan umum di Jalan {jalan} ({kel}) mati sudah dua minggu, rawan kejahatan.",
        ),
    ),
    "Perhubungan": (
        ("Parkir liar di Jalan {jalan}", "Lampu lalu lintas mati di simpang {jalan}"),
        (
            "Banyak kendaraan parkir di badan Jalan {jalan}, Kelurahan {kel}, menyebabkan macet pada jam sibuk.",
            "Traffic light di simpang Jalan {jalan}, Kelurahan {kel}, Kecamatan {kec} tidak menyala sejak kemarin.",
        ),
    ),
    "Penanggulangan Bencana": (
        ("Kebakaran lahan dekat permukiman {kel}", "Banjir di {kel}"),
        (
            "Ada kebakaran lahan gambut dekat permukiman warga di Kelurahan {kel}. Asap sudah masuk rumah.",
            "Air sungai naik dan merendam rumah warga di Jalan {jalan}, Kelurahan {kel}, Kecamatan {kec}.",
        ),
    ),
    "Kesehatan": (
        ("Pelayanan puskesmas di {kel} lambat", "Kasus DBD meningkat di {kel}"),
        (
            "Antrean di puskesmas wilayah {kel} sangat lama dan petugas kurang ramah.",
            "Sudah beberapa warga Jalan {jalan}, Kelurahan {kel} terkena DBD. Mohon dilakukan fogging.",
        ),
    ),
    "Ketentraman, Ketertiban Umum, dan Perlindungan Masyarakat": (
        ("Balap liar tiap malam di Jalan {jalan}", "Pedagang kaki lima di trotoar {kel}"),
        (
            "Setiap malam ada balap liar di Jalan {jalan}, Kelurahan {kel}. Sangat mengganggu warga.",
            "Pedagang kaki lima berjualan di atas trotoar di Kelurahan {kel} sehingga pejalan kaki "
            "terpaksa turun ke jalan.",
        ),
    ),
    "Lingkungan Hidup dan Kehutanan": (
        ("Sampah menumpuk di {kel}", "Pembakaran sampah sembarangan di {kel}"),
        (
            "Sampah di TPS Jalan {jalan}, Kelurahan {kel} tidak diangkut selama seminggu dan berbau.",
            "Warga membakar sampah di lahan kosong Kelurahan {kel}, asapnya mengganggu pernapasan.",
        ),
    ),
    "Kependudukan": (
        ("KTP elektronik belum jadi", "Antrean Disdukcapil terlalu lama"),
        (
            "Saya warga Kelurahan {kel} sudah rekam KTP-el tiga bulan lalu tetapi belum jadi.",
            "Pengurusan akta kelahiran untuk warga Kelurahan {kel} di Disdukcapil lama sekali, sistem sering offline.",
        ),
    ),
}
_GENERIC: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("Mohon tindak lanjut laporan warga {kel}", "Keluhan warga Kecamatan {kec}"),
    (
        "Kami warga Kelurahan {kel}, Kecamatan {kec} ingin menyampaikan keluhan terkait pelayanan di "
        "wilayah kami. Mohon ditindaklanjuti oleh instansi terkait.",
        "Mohon informasi dan penanganan atas permasalahan di sekitar Jalan {jalan}, Kelurahan {kel}.",
    ),
)
_STREETS = (
    "Tjilik Riwut",
    "G. Obos",
    "RTA Milono",
    "Yos Sudarso",
    "Ahmad Yani",
    "Diponegoro",
    "Temanggung Tilung",
    "Mahir Mahar",
    "Beliang",
    "Rajawali",
    "Sisingamangaraja",
    "Kinibalu",
)
_CLOSINGS = (
    "Terima kasih.",
    "Terima kasih 🙏",
    "Mohon segera ditindaklanjuti!! 😡",
    "<p>Terima kasih atas perhatiannya.</p>",
    "Hormat saya,<br>Warga",
    "Terima kasih.\r\n",
)
_FIRST_NAMES = (
    "Andi",
    "Budi",
    "Citra",
    "Dewi",
    "Eka",
    "Fajar",
    "Gita",
    "Hadi",
    "Indah",
    "Joko",
    "Kartika",
    "Lestari",
    "Made",
    "Nur",
    "Oki",
    "Putri",
    "Rahmat",
    "Sari",
    "Teguh",
    "Wulan",
)
_FAKE_SURNAMES = ("Contoh", "Fiktif", "Simulasi", "Percobaan")
_REPLIES: tuple[tuple[str, int], ...] = (
    ("Terima kasih, sudah ditangani dengan baik.", 5),
    ("Terima kasih atas responnya 🙏", 4),
    ("Maaf, sampai hari ini masalahnya belum selesai. Mohon dicek lagi ke lokasi.", 0),
    ("Petugas belum datang ke lokasi, mohon ditindaklanjuti.", 1),
)


def compose_complaint(rng: random.Random, category: str, place: Place) -> tuple[str, str]:
    """Return ``(title, content)`` for a complaint in ``category`` at ``place``.

    About 1 in 8 bodies uses CR LF line breaks, and about 1 in 200 is over 10,000 characters
    (a pasted document), as the real platform delivers them.
    """
    titles, bodies = _TEMPLATES.get(category, _GENERIC)
    fill = {"kel": place.kelurahan, "kec": place.kecamatan, "jalan": rng.choice(_STREETS)}
    pick = rng.randrange(len(titles))
    title, body = titles[pick].format(**fill), bodies[pick].format(**fill)
    newline = "\r\n" if rng.random() < 0.125 else "\n"
    content = f"{body}{newline}{newline}{rng.choice(_CLOSINGS)}"
    if rng.random() < 0.005:
        content += newline + newline.join([body] * (10_500 // len(body) + 1))
    return title, content


def fictitious_reporter(rng: random.Random, serial: int) -> Reporter:
    """Return an obviously fake reporter: a made-up surname, a 0812-0000 phone, an @contoh.id email."""
    first, surname = rng.choice(_FIRST_NAMES), rng.choice(_FAKE_SURNAMES)
    number = serial % 10_000
    return Reporter(
        name=f"{first} {surname}",
        email=f"{first.lower()}.{surname.lower()}{number:04d}@contoh.id" if rng.random() < 0.7 else None,
        phone=f"0812-0000-{number:04d}",
    )


def reporter_reply(rng: random.Random) -> tuple[str, int]:
    """Return ``(content, rating)`` for a reporter's reply to a follow-up (rating 0 when none)."""
    return rng.choice(_REPLIES)
