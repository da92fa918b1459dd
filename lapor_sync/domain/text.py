r"""Text as received from outside, made valid for storage: NUL characters and lone surrogates removed.

PostgreSQL refuses NUL (U+0000) in ``text`` columns, and no database driver can encode a lone
surrogate (U+D800..U+DFFF without its pair; JSON can carry one as ``"\ud800"``) to UTF-8. Those
two are removed; everything else is kept exactly as received: emoji, HTML fragments, ``\r\n``,
other control characters. A surrogate pair split into two code points is joined into its
character. The length as received is reported, so a stored text that lost something can tell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_INVALID = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class ReceivedText:
    """A text made valid, with its length as received.

    Attributes:
        text: the text without NUL characters and lone surrogates.
        received_length: its length as received, in characters (code points).
    """

    text: str
    received_length: int


def valid_text(text: str) -> str:
    """Return ``text`` without NUL characters and lone surrogates, everything else as received."""
    if not _INVALID.search(text):
        return text
    text = text.replace("\x00", "")
    if _SURROGATE.search(text):
        # UTF-16 joins each high+low pair into its character; "ignore" drops the lone halves.
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "ignore")
    return text


def receive_text(text: str) -> ReceivedText:
    """Make ``text`` valid (see :func:`valid_text`) and keep its length as received."""
    return ReceivedText(valid_text(text), len(text))


def valid_payload(value: object) -> object:
    """Return a JSON-compatible ``value`` with every string (keys too) made valid by :func:`valid_text`.

    Numbers, booleans and ``None`` are returned as they are; lists and dicts are copied.
    """
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, list):
        return [valid_payload(item) for item in value]
    if isinstance(value, dict):
        return {valid_text(key) if isinstance(key, str) else key: valid_payload(item) for key, item in value.items()}
    return value
