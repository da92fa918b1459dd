"""The simulated platform's master data (CONTRACT §7 G8): the institutions it knows and its reply templates.

Seeded from the catalog's institutions and a handful of Indonesian reply templates. It lives in
memory with the world and is not saved with it: a simulator served again starts from this seed.
Tests change it (rename, withdraw) through :class:`MasterData` under the world's lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lapor_sync.simulator.catalog import INSTITUTIONS


@dataclass(frozen=True, slots=True)
class Template:
    """A reply template: ``template_code`` is seen (G8); ``id``, ``name`` and ``content`` are our model."""

    id: int
    template_code: str
    name: str
    content: str


TEMPLATES: tuple[Template, ...] = (
    Template(
        1,
        "followup",
        "Tindak lanjut: sedang diproses",
        "Terima kasih atas laporan Anda. Laporan telah kami terima dan sedang ditindaklanjuti oleh "
        "petugas terkait; perkembangannya akan kami sampaikan melalui kanal ini.",
    ),
    Template(
        2,
        "survei_lokasi",
        "Peninjauan lokasi",
        "Petugas kami akan meninjau lokasi yang Anda laporkan dalam waktu dekat.",
    ),
    Template(
        3,
        "selesai",
        "Selesai ditindaklanjuti",
        "Permasalahan yang Anda laporkan telah selesai ditindaklanjuti. Apabila masih ada kendala, "
        "silakan sampaikan tanggapan melalui kanal ini.",
    ),
    Template(
        4,
        "data_dukung_kurang",
        "Data dukung kurang",
        "Mohon maaf, laporan Anda belum dapat kami tindak lanjuti karena data dukung belum lengkap. "
        "Mohon lengkapi lokasi, waktu kejadian dan foto pendukung.",
    ),
    Template(
        5,
        "bukan_wewenang",
        "Bukan wewenang",
        "Mohon maaf, permasalahan yang Anda laporkan bukan kewenangan Pemerintah Kota Palangka Raya; "
        "laporan Anda kami teruskan kepada instansi yang berwenang.",
    ),
)


@dataclass
class MasterData:
    """What ``/masters/institutions/external`` and ``/masters/templates`` serve, in id order.

    Attributes:
        institutions: national id -> name; every institution of the catalog, the city and its
            sub-units included (whether the real list holds the caller's own is not known: assumed).
        templates: template code -> template.
    """

    institutions: dict[int, str] = field(default_factory=lambda: {i.id: i.name for i in INSTITUTIONS.values()})
    templates: dict[str, Template] = field(default_factory=lambda: {t.template_code: t for t in TEMPLATES})

    def institution_rows(self) -> list[dict[str, object]]:
        """The institutions as wire rows ``{id, name}`` (no ``parent_id``, G8), by id."""
        return [{"id": key, "name": name} for key, name in sorted(self.institutions.items())]

    def template_rows(self) -> list[dict[str, object]]:
        """The templates as wire rows ``{id, template_code, name, content}``, by id."""
        return [
            {"id": t.id, "template_code": t.template_code, "name": t.name, "content": t.content}
            for t in sorted(self.templates.values(), key=lambda t: t.id)
        ]
