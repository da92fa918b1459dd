"""Headers every answer of the console carries, whatever route made it (pages, JSON, errors, redirects).

No other site may frame a console page (an operator's click on a hidden "resync" or "disable user"
button), browsers must not guess content types, and a page runs only the console's own scripts and
styles: the templates have no inline script, style or event handler, so a policy of ``'self'``
costs nothing and turns an escaping slip into a blocked script rather than a stolen session.
Nothing but the static files may be kept by a browser or a proxy: every other answer (a case's JSON
with its reporter, the audit log, a redirect) is someone's private view of the city's complaints.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",  # frame-ancestors for browsers that predate it
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",  # case and event links carry tracking ids: not to other sites
}


def protect(headers: MutableHeaders, *, static: bool) -> None:
    """Add the console's security headers to an answer's ``headers`` (those it already has are kept).

    Args:
        headers: the answer's headers, changed in place.
        static: the answer is one of the console's static files (the only answers that may be cached).
    """
    for name, value in SECURITY_HEADERS.items():
        if name not in headers:
            headers[name] = value
    if not static:
        headers["cache-control"] = "no-store"
