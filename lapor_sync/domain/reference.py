"""Reference tokens: how lapor-sync recognises its own follow-ups on the national side.

CONTRACT §6: the platform does not deduplicate writes, so after an ambiguous failure the client
reads the follow-ups back and looks for its own token. The server normalises content (trims,
strips HTML tags, cuts at 10,000 characters: CONTRACT §4), so the token is plain text in square
brackets at the *start* of the content, where neither trimming, tag stripping nor the cut reach it.
"""

from __future__ import annotations

import re
import secrets

_TOKEN_RE = re.compile(r"\[LS-([0-9a-f]{10})\]")


def new_reference() -> str:
    """Return a fresh reference token such as ``LS-3f9a0c12bd`` (40 random bits)."""
    return f"LS-{secrets.token_hex(5)}"


def tag_content(reference: str, content: str) -> str:
    """Return ``content`` as it is posted: ``[<reference>] <content>``."""
    return f"[{reference}] {content.strip()}"


def find_reference(content: str) -> str | None:
    """Return the reference token at the start of posted content, or ``None``.

    Only the first 40 characters are searched, so a citizen quoting a token in a reply
    further down cannot make lapor-sync believe its own follow-up arrived.
    """
    match = _TOKEN_RE.search(content[:40])
    return f"LS-{match.group(1)}" if match else None


def strip_reference(content: str) -> str:
    """Return posted content without its leading reference token."""
    return _TOKEN_RE.sub("", content, count=1).lstrip() if find_reference(content) else content
