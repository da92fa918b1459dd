"""Environment variables named like lapor-sync's that nothing reads: a warning naming the nearest one.

A mistyped variable (``LAPOR_SYNC_API_KEYY``) would otherwise be ignored without a word, and the
setting it meant would keep its default. Not an error: an old variable left in a service file must
not stop the service.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterable, Mapping

log = logging.getLogger("lapor_sync.config")
TEST_NAMESPACE = "TEST_"
"""``LAPOR_SYNC_TEST_*``: the test suite's own variables (``LAPOR_SYNC_TEST_POSTGRES_URL``), never warned about."""
SIMILARITY = 0.75
"""How alike (difflib's ratio, 0 to 1, of the names after the prefix) a known name must be to be suggested."""


def unknown_variables(
    environ: Mapping[str, str], prefix: str, known: Iterable[str], tables: Iterable[str]
) -> dict[str, str | None]:
    """The variables of ``environ`` under ``prefix`` that are not in ``known``, each with the nearest known one.

    Args:
        environ: the environment (names in any case, as the settings read them).
        prefix: the variables' prefix, e.g. ``LAPOR_SYNC_``.
        known: every variable something reads (upper case).
        tables: the variables of table settings (``LAPOR_SYNC_ENDPOINTS``): their ``__KEY`` variables
            are checked by the settings themselves, which refuse an unknown key.

    Returns:
        Unknown name (as written) → the suggested known name, or ``None`` when none is close enough.
    """
    known_names = sorted({name.upper() for name in known})
    nested = tuple(f"{table.upper()}__" for table in tables)
    suffixes = {name[len(prefix) :]: name for name in known_names}
    found: dict[str, str | None] = {}
    for name in sorted(environ):
        upper = name.upper()
        rest = upper[len(prefix) :]
        if not upper.startswith(prefix) or upper in known_names or upper.startswith(nested):
            continue
        if rest.startswith(TEST_NAMESPACE):
            continue
        close = difflib.get_close_matches(rest, suffixes, n=1, cutoff=SIMILARITY)
        found[name] = suffixes[close[0]] if close else None
    return found


def warn_unknown_variables(prefix: str, known: Iterable[str], tables: Iterable[str]) -> None:
    """Log one WARNING per unknown variable of the process environment (see :func:`unknown_variables`).

    The line names the variable and, when one is close, ``did you mean LAPOR_SYNC_API_KEY?``; never its
    value (it may be a secret).
    """
    for name, nearest in unknown_variables(os.environ, prefix, known, tables).items():
        hint = f"did you mean {nearest}?" if nearest else "`lapor-sync config show` lists the settings"
        log.warning("%s is not a lapor-sync variable and is ignored; %s", name, hint)
