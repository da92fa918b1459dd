"""Where the simulator serves the API: base paths (CONTRACT §1), token URL, endpoint variants (G7), page size (G8)."""

from collections.abc import Mapping

BASE_PATH = "/lapor/3.0.0"
"""The production base path (CONTRACT §1), the only one without the gateway."""
SANDBOX_PATH = "/sandbox-konsolidasi/1.0"
"""The sandbox base path (CONTRACT §1), served beside production by ``--gateway splp`` over the same world."""
TOKEN_PATH = "/oauth2/token"
"""The OAuth2 token URL (CONTRACT §1 mode 2); outside the base paths, so no SPLP key is asked for there."""
VARIANT_SUFFIX = "-lmw"
"""The endpoint variant of ``--gateway splp`` (CONTRACT §7 G7): every contract path with this after its
last segment is the same endpoint, e.g. ``/complaints/{complaint_id}/complaint-lmw``."""


def page_size_name(query: Mapping[str, str]) -> str:
    """The page-size parameter a request named: ``per_page`` (CONTRACT §5), or ``page_size`` (§7 G8) alone."""
    return "page_size" if "page_size" in query and "per_page" not in query else "per_page"
