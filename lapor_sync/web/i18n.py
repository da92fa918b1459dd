"""The console's languages: Bahasa Indonesia by default, English by choice; dates in WIB.

Message ids are the English texts (code and templates are written in English), so English needs no
catalogue; ``locale/id/LC_MESSAGES/messages.po`` holds the Indonesian. The catalogue is compiled in
memory at first use (Babel), so there is no build step and nothing compiled is committed.
"""

from __future__ import annotations

import gettext
import io
from datetime import date, datetime
from enum import StrEnum
from functools import cache
from importlib import resources

from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

from lapor_sync.domain.timezones import WIB


class Language(StrEnum):
    """A language the console speaks; the value is its BCP 47 tag (and Babel locale)."""

    ID = "id"
    EN = "en"


DEFAULT = Language.ID
"""Bahasa Indonesia: the language of the city's staff (the brief: pages speak it by default)."""

CATALOGUE = "lapor_sync.web", "locale/id/LC_MESSAGES/messages.po"


@cache
def translations(language: Language) -> gettext.NullTranslations:
    """The gettext translations for ``language`` (English: the message ids themselves).

    Raises:
        babel.messages.pofile.PoFileError: the Indonesian catalogue does not parse (a packaging bug).
    """
    if language is Language.EN:
        return gettext.NullTranslations()
    package, path = CATALOGUE
    with resources.files(package).joinpath(path).open("rb") as po:
        catalogue = read_po(po, locale=language.value)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return Translations(compiled)


def negotiate(chosen: str | None, accept_language: str | None, default: Language = DEFAULT) -> Language:
    """The language of a request: the user's choice (cookie), else the browser's ``Accept-Language``, else ``default``.

    Args:
        chosen: the ``lang`` cookie's value, if any (an unknown value is ignored).
        accept_language: the request's ``Accept-Language`` header, e.g. ``"en-GB,en;q=0.9,id;q=0.8"``.
        default: the deployment's language (setting ``web_language``).
    """
    if chosen in Language._value2member_map_:
        return Language(chosen)
    for tag, _weight in sorted(_ranges(accept_language or ""), key=lambda pair: -pair[1]):
        primary = tag.split("-", 1)[0].lower()
        if primary in Language._value2member_map_:
            return Language(primary)
        if primary == "*":
            break
    return default


def _ranges(header: str) -> list[tuple[str, float]]:
    """``Accept-Language``'s ranges with their weights (RFC 9110 §12.5.4); a malformed weight counts 0."""
    ranges = []
    for part in header.split(",")[:32]:  # bounded: a header is client input
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        if tag and weight > 0:
            ranges.append((tag.strip(), weight))
    return ranges


@cache
def _months(language: Language) -> tuple[str, ...]:
    """The month names of ``MMMM`` in ``language``, January first (from Babel, once per language)."""
    return tuple(format_date(date(2024, month, 1), "MMMM", locale=language.value) for month in range(1, 13))


# The dates below are Babel's ``dd MMMM yyyy`` patterns spelt out: Babel parses a pattern on every
# call (about 9 µs), and a listing of thousands of cases formats tens of thousands of instants.


def long_date(value: date | datetime | None, language: Language) -> str:
    """A date as ``dd MMMM yyyy`` in ``language`` (``07 Desember 2026``); an instant is taken in WIB first."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        value = value.astimezone(WIB).date()
    return f"{value.day:02d} {_months(language)[value.month - 1]} {value.year:04d}"


def tenths(value: float | None, language: Language) -> str:
    """A number to one decimal place as ``language`` writes it: ``1.234,5`` (Indonesian), ``1,234.5`` (English).

    Indonesian reads ``12.5`` as twelve thousand five hundred, so the point of a duration must not be left as is.
    """
    if value is None:
        return "-"
    return format_decimal(value, "#,##0.0", locale=language.value)


def date_time(value: datetime | None, language: Language) -> str:
    """An instant in WIB as ``dd MMMM yyyy HH.mm WIB`` (Indonesian) or ``dd MMMM yyyy HH:mm WIB`` (English)."""
    if value is None:
        return "-"
    local = value.astimezone(WIB)
    clock = (
        f"{local.hour:02d}.{local.minute:02d}" if language is Language.ID else f"{local.hour:02d}:{local.minute:02d}"
    )
    return f"{long_date(local.date(), language)} {clock} WIB"
