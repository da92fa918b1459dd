"""What lapor-sync writes for people to read later, redacted: sync events, run errors, outbox errors, log lines.

Two things are taken out. Reporters' phone numbers, e-mail addresses and NIK numbers, wherever
they appear (``mask_personal_data``). And echoes of texts lapor-sync is handling at that moment:
while an outbox row is delivered, what it sends (and, for a confidential complaint, its title and
content) is in the :func:`withholding` context, so a server that quotes it back in an error
message does not carry it into the log. A context, not an argument: the lines written meanwhile
come from several layers (the client's retry log, the push, the journal) that do not know the row.
The context is per thread and per task (``contextvars``), so concurrent jobs never see each
other's texts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from lapor_sync.domain.personal_data import mask_personal_data

WITHHELD = "[content withheld]"
MIN_ECHO = 12
"""The shortest run of characters taken for an echo (a shorter text is withheld only whole)."""
_SHORTEST_WITHHELD = 4  # "OK", "ya": too short to mean anything, too common to cut out


@dataclass(frozen=True)
class _Withheld:
    """One withheld text, as every run of ``shortest`` characters in it (looked up in constant time)."""

    shortest: int
    runs: frozenset[str]

    @classmethod
    def of(cls, text: str) -> _Withheld:
        shortest = min(MIN_ECHO, len(text))
        return cls(shortest, frozenset(text[i : i + shortest] for i in range(len(text) - shortest + 1)))


_withheld: ContextVar[tuple[_Withheld, ...]] = ContextVar("lapor_sync_withheld", default=())


@contextmanager
def withholding(*texts: str | None) -> Iterator[None]:
    """While the block runs, :func:`redact` cuts echoes of ``texts`` (``None`` and blanks are skipped)."""
    kept = tuple(_Withheld.of(text.strip()) for text in texts if text and len(text.strip()) >= _SHORTEST_WITHHELD)
    token = _withheld.set(_withheld.get() + kept)
    try:
        yield
    finally:
        _withheld.reset(token)


def redact(text: str) -> str:
    """Return ``text`` with echoes of withheld texts replaced by :data:`WITHHELD`, then personal data masked.

    An echo is any run of at least :data:`MIN_ECHO` characters (or the whole withheld text, when
    shorter) that the text shares with a withheld text, so a quote cut short or stripped of its
    HTML by the server is caught too.
    """
    for source in _withheld.get():
        text = _withhold(text, source)
    return mask_personal_data(text)


def redact_value(value: object) -> object:
    """:func:`redact` every string in ``value`` (dicts and lists copied; other values returned as they are)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value


def _withhold(text: str, source: _Withheld) -> str:
    """Replace every stretch of ``text`` covered by runs it shares with ``source`` by one placeholder.

    Linear in ``len(text)``: a 70,000-character follow-up and a long traceback would take seconds
    with a longest-common-substring search.
    """
    size = source.shortest
    covered = bytearray(len(text))
    for start in range(len(text) - size + 1):
        if text[start : start + size] in source.runs:
            covered[start : start + size] = b"\x01" * size
    if not any(covered):
        return text
    parts: list[str] = []
    for index, char in enumerate(text):
        if not covered[index]:
            parts.append(char)
        elif index == 0 or not covered[index - 1]:
            parts.append(WITHHELD)
    return "".join(parts)
