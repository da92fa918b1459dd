"""Every text of the console has its Indonesian, and the catalogue is well-formed."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "lapor_sync/web/locale/id/LC_MESSAGES/messages.po"


def _texts_in_code() -> set[str]:
    method_map = [
        ("lapor_sync/web/**.py", "python"),
        ("lapor_sync/reports/health.py", "python"),
        ("lapor_sync/accounts/**.py", "python"),
        ("lapor_sync/web/templates/**.html", "jinja2"),
    ]
    options = {"lapor_sync/web/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "translate": (2,), "Reason": None, "counted": (1, 2)}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map=options, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])  # a plural's singular is its id
    return found


def test_every_console_text_has_its_indonesian() -> None:
    with CATALOGUE.open("rb") as po:
        catalogue = read_po(po, locale="id")
    translated = {
        m.id if isinstance(m.id, str) else m.id[0]: m.string if isinstance(m.string, str) else "".join(m.string)
        for m in catalogue
        if m.id and not m.fuzzy
    }
    texts = _texts_in_code()
    assert texts, "the extractor found no texts: check the paths"
    untranslated = sorted(t for t in texts if not translated.get(t))
    assert untranslated == [], f"texts without Indonesian in {CATALOGUE.name}: {untranslated}"


def test_placeholders_survive_translation() -> None:
    with CATALOGUE.open("rb") as po:
        catalogue = read_po(po, locale="id")
    for message in catalogue:
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        for text in strings:
            if text:
                assert sorted(_placeholders(ids[0])) == sorted(_placeholders(text)), ids[0]


def _placeholders(text: str) -> list[str]:
    return re.findall(r"%\([a-z_]+\)[sd]", text)


def test_indonesian_says_proses_for_a_sync_run_never_run() -> None:
    with CATALOGUE.open("rb") as po:
        catalogue = read_po(po, locale="id")
    english_word = [
        message.id
        for message in catalogue
        for text in ([message.string] if isinstance(message.string, str) else list(message.string))
        if re.search(r"\brun\b", re.sub(r"%\([a-z_]+\)[sd]", "", text))
    ]
    assert english_word == []
