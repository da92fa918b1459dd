"""Reading form bodies (multipart or URL-encoded) with the standard library only.

Starlette's own form parser needs the optional ``python-multipart`` package; the simulator reads
the few fields of ``/complaints/followup/add`` itself instead of adding a dependency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from urllib.parse import parse_qsl


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
        FormError: another content type, or a multipart body that cannot be read.
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return FormBody(fields=dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)))
    if kind != "multipart/form-data":
        raise FormError("expected multipart/form-data")
    header = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(header + body)
    if not message.is_multipart():
        raise FormError("unreadable multipart body")
    form = FormBody()
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        file_name = part.get_filename()
        if file_name is not None:
            form.file_names.append(file_name)
        elif isinstance(name, str):
            payload = part.get_payload(decode=True)
            form.fields[name] = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return form
