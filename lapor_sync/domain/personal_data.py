"""Masking reporters' personal data in free text: phone numbers, e-mail addresses and NIK numbers.

Sync events, run errors, outbox errors and log lines are read by IT staff and kept for months, so
they must not carry a reporter's contact data or identity number (UU 27/2022 on personal data
protection). lapor-sync never writes them there on purpose; masking catches what arrives inside
a text from elsewhere: a server's error message, an exception, an admin's typed reason.

Each match becomes a fixed placeholder that keeps no digit or letter of it: a "last two digits"
hint helps nobody find a record (events name complaints by tracking id) and still narrows a
search for the person. What IT staff need stays: tracking and complaint ids (7 digits),
institution ids, HTTP statuses, counts, durations (``0.0812345678 s``), timestamps and dates in
every format lapor-sync writes, IP addresses, UUIDs, hex digests and ``[LS-…]`` reference tokens.
A number that has a phone's shape (``id 0812345678``) cannot be told from one and is masked.

Every pattern is searched in time linear in the text: a server's error message of megabytes is
masked whole before it is cut.

Limits: names, addresses and other identifying words in free text are not recognised; nor are
phone numbers of other countries, an Indonesian one written in an unusual grouping or in
full-width digits, or an e-mail address spelled with spaces around its ``@``.
"""

from __future__ import annotations

import re

PHONE_MASK = "[phone masked]"
EMAIL_MASK = "[email masked]"
NIK_MASK = "[NIK masked]"

_AT = r"(?:@|\s?[\[(](?i:at)[\])]\s?)"  # also "nama[at]gmail.com", "nama (at) gmail.com"
_DOT = r"(?:\.|\s?[\[(](?i:dot)[\])]\s?)"
_EMAIL = re.compile(
    r"(?<![\w.%+-])"  # the whole local part or none of it: one start per run keeps the search linear
    rf"[\w.%+-]+{_AT}[\w-]+(?:{_DOT}[\w-]+)*{_DOT}[^\W\d_]{{2,}}"
)
"""Local part (dots, plus-addressing), a domain with any subdomains, a top-level domain of letters.

Without the look-behind the search would try every position of a long run of letters or digits
and scan to its end each time: 70,000 digits took 20 s.
"""

_NIK = re.compile(
    r"(?<![0-9A-Fa-f])(?:"  # not 16 digits inside a hex digest (a sha256, a key); the price: a NIK
    # glued to a word of hex letters ("6271031203900001dan") is not recognised
    r"[0-9]{16}"  # as printed on the KTP
    r"|[0-9]{4}(?P<a>[ .-])[0-9]{4}(?P=a)[0-9]{4}(?P=a)[0-9]{4}"  # 6271 0312 0390 0001
    r"|[0-9]{2}(?P<b>[ .-])[0-9]{2}(?P=b)[0-9]{2}(?P=b)[0-9]{6}(?P=b)[0-9]{4}"  # 62.71.03.120390.0001
    r"|[0-9]{6}(?P<c>[ .-])[0-9]{6}(?P=c)[0-9]{4}"  # 627103 120390 0001: region, birth date, serial
    r")(?![0-9A-Fa-f])"
)
"""Nomor Induk Kependudukan: 16 digits (province, regency, district, birth date, serial number)."""

_PHONE = re.compile(
    r"(?<![0-9][.,])"  # not the decimals of a number: "took 0.0812345678 s"
    r"(?:(?<![\w+-])|(?i:(?<=hp)|(?<=wa)|(?<=tlp)|(?<=telp)))"  # not inside a word, a longer number or a
    # token such as [LS-0812345678]; but right after a label written without a space: hp081234567890
    r"(?:\(0[0-9]{2,3}\)[ .-]?"  # an area code in brackets: (0536) 322-1234
    r"|\+62[ .-]?\(0?[0-9]{2,3}\)[ .-]?"  # +62 (812) 3456-7890
    r"|(?:\+62[ .-]?|62[ .-]?(?=8[0-9]{2})|0(?=[2-9]))[0-9]{2,4})"  # +62 812, 62 812 (mobile only), 0812
    # (no Indonesian number starts 01, and 62.89.x.x is an IP address)
    r"(?:[ .-]?[0-9]{3,4}){1,3}"  # the subscriber number, in groups of 3 or 4 (so no date is one)
    r"(?!\w|-[0-9A-Fa-f]{4}-)"  # not followed by a word, nor by a UUID's next group (08172372-3035-efd3-...)
)
"""An Indonesian phone number: +62 812-3456-7890, 62 812 3456 7890, 0812.3456.7890, (0536) 322-1234."""
_PHONE_DIGITS = range(9, 14)  # 081234567 .. +62 812 3456 78901, country code and trunk 0 included

_MAY_HOLD = re.compile(r"@|[\[(](?i:at)[\])]|[0-9](?:[ .()-]{0,3}[0-9]){8}")
"""What every text :func:`mask_personal_data` changes holds, found in one cheap search.

An e-mail address has its ``@`` or a bracketed ``at``. A NIK has 16 digits and a phone number
that is masked at least 9 (:data:`_PHONE_DIGITS`), each digit at most three characters of
``[ .()-]`` from the next (``+62 (812) 3456``, ``(0536) -322``): so both hold 9 such digits. A text
with none of these is returned as it is, without the three searches (most event messages, which
name complaints by 7-digit ids: the searches cost some 70 µs a message, this one a few).
"""


def mask_personal_data(text: str) -> str:
    """Return ``text`` with e-mail addresses, NIK numbers and Indonesian phone numbers masked.

    Args:
        text: any free text (an event message, an error, a log line).

    Returns:
        The text with each match replaced by :data:`EMAIL_MASK`, :data:`NIK_MASK` or
        :data:`PHONE_MASK`; everything else unchanged. Masking a masked text changes nothing.
    """
    if _MAY_HOLD.search(text) is None:
        return text
    return _mask(text)


def _mask(text: str) -> str:
    """Mask ``text`` by the three patterns (:func:`mask_personal_data` without its first cheap search)."""
    # E-mail first: a local part may be a phone number or a NIK ("081234567890@mail.com").
    text = _EMAIL.sub(EMAIL_MASK, text)
    text = _NIK.sub(NIK_MASK, text)
    return _PHONE.sub(_phone_or_kept, text)


def _phone_or_kept(match: re.Match[str]) -> str:
    digits = sum(char.isdigit() for char in match.group())
    return PHONE_MASK if digits in _PHONE_DIGITS else match.group()
