"""Exceptions leaving a withholding block, made free of the texts withheld in it.

While an outbox row is delivered, a server may quote its text (a confidential follow-up) in an
error message (``lapor_sync.runtime.redaction``). Lines written inside the block are redacted, but an
exception that leaves it is printed later, outside: by the worker's "job crashed" log line, or as
a traceback on the command line, causes and contexts included ("During handling of the above
exception..."). So it is scrubbed on its way out, while the withheld texts are still known.
"""

from __future__ import annotations

from lapor_sync.domain.errors import LaporSyncError, NationalPlatformError
from lapor_sync.runtime.redaction import redact


class WithheldError(LaporSyncError):
    """Stands for an exception whose text could not be cleaned of a withheld text (its type is kept in the message)."""


def scrubbed(exc: BaseException) -> BaseException:
    """Return ``exc`` with every withheld text cut from what a traceback prints of it.

    Call it inside the withholding block. Messages are redacted in place (``args``, and a platform
    error's ``detail``), and so are notes (``add_note``); a note that is not text is dropped. The
    causes, contexts and grouped exceptions (``ExceptionGroup``) are cleaned the same way. A cause
    or context whose text cannot be cleaned (a ``__str__`` of its own) is dropped from the chain; a
    group holding one cannot be cleaned itself. An ``exc`` that cannot be cleaned is replaced by a
    :class:`WithheldError` naming its type, with no chain.
    """
    if _clean(exc, set()):
        return exc
    return WithheldError(
        f"{type(exc).__name__} while delivering an outbox row (its message quoted a withheld text and is not shown)"
    )


def _clean(exc: BaseException, seen: set[int]) -> bool:
    """Scrub ``exc`` and its chain in place; return whether its own text is now free of withheld texts."""
    if id(exc) in seen:
        return True
    seen.add(id(exc))
    text = _text(exc)
    if text is None:
        return False
    if redact(text) != text:
        exc.args = (redact(text),)
        if isinstance(exc, NationalPlatformError):
            exc.detail = redact(exc.detail)
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        exc.__notes__ = [redact(note) for note in notes if isinstance(note, str)]
    for link in ("__cause__", "__context__"):
        inner = getattr(exc, link)
        if inner is not None and not _clean(inner, seen):
            setattr(exc, link, None)
    if isinstance(exc, BaseExceptionGroup) and not all(_clean(inner, seen) for inner in exc.exceptions):
        return False  # its exceptions cannot be taken out of it
    text = _text(exc)
    return text is not None and redact(text) == text


def _text(exc: BaseException) -> str | None:
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ is treated as text that cannot be cleaned
        return None
