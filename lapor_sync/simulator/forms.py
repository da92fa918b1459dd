"""Reading form bodies (multipart or URL-encoded) with the standard library only.

Starlette's own form parser needs the optional ``python-multipart`` package; the simulator reads
the few fields of ``/complaints/followup/add`` itself instead of adding a dependency. It splits the
body on its boundary (RFC 7578, RFC 2046 §5.1.1) rather than handing it to the ``email`` package,
whose header objects cost about a millisecond per request: a third of the simulator's CPU on a
push of follow-ups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

# One ``; name=value`` parameter of a header, the value a token or a quoted string.
_PARAM = re.compile(r';\s*([A-Za-z0-9_.*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)')
_ESCAPED = re.compile(r"\\(.)")


@dataclass(slots=True)
class FormBody:
    """Text fields by name, and the file names of uploaded files (their content is dropped)."""

    fields: dict[str, str] = field(default_factory=dict)
    file_names: list[str] = field(default_factory=list)


class FormError(ValueError):
    """The body is not a readable form."""


def parse_form(content_type: str, body: bytes) -> FormBody:
    """Parse a ``multipart/form-data`` or ``application/x-www-form-urlencoded`` body.

    Args:
        content_type: the request's ``Content-Type`` header, with its boundary.
        body: the raw body.

    Raises:
        FormError: another content type, or a multipart body that cannot be read (no boundary, no
            closing delimiter, a part without its blank line).
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return FormBody(fields=dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)))
    if kind != "multipart/form-data":
        raise FormError("expected multipart/form-data")
    boundary = _params(content_type).get("boundary")
    if not boundary:
        raise FormError("unreadable multipart body")
    form = FormBody()
    for head, content in _parts(body, b"--" + boundary.encode("latin-1", "replace")):
        disposition = _params(_header(head, "content-disposition"))
        if "filename" in disposition:
            form.file_names.append(disposition["filename"])
        elif "name" in disposition:
            form.fields[disposition["name"]] = content.decode("utf-8", "replace")
    return form


def _parts(body: bytes, delimiter: bytes) -> list[tuple[str, bytes]]:
    """Split a multipart body into (header block, content) pairs; the preamble and epilogue are dropped."""
    chunks = body.split(delimiter)
    if len(chunks) < 2 or not chunks[-1].startswith(b"--"):
        raise FormError("unreadable multipart body")
    parts = []
    for chunk in chunks[1:-1]:
        if not chunk.startswith(b"\r\n"):
            raise FormError("unreadable multipart body")
        rest = chunk[2:]
        head, blank, content = (b"", b"\r\n", rest[2:]) if rest.startswith(b"\r\n") else rest.partition(b"\r\n\r\n")
        if not blank:
            raise FormError("unreadable multipart body")
        parts.append((head.decode("utf-8", "replace"), content.removesuffix(b"\r\n")))
    return parts


def _header(head: str, name: str) -> str:
    """The value of header ``name`` (lower case) in a part's header block, or ``""``."""
    for line in head.split("\r\n"):
        key, colon, value = line.partition(":")
        if colon and key.strip().lower() == name:
            return value
    return ""


def _params(value: str) -> dict[str, str]:
    """The ``; name=value`` parameters of a header value, names lower-cased, quoted strings unquoted."""
    found = {}
    for name, raw in _PARAM.findall(value):
        quoted = len(raw) >= 2 and raw[0] == raw[-1] == '"'
        found[name.lower()] = _ESCAPED.sub(r"\1", raw[1:-1]) if quoted else raw
    return found
