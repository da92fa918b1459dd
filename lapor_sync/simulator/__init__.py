"""The built-in SP4N-LAPOR! simulator: "the other side" of the integration, following docs/api.md.

It serves a deterministic data set (1,983 complaints to Kota Palangka Raya, Jan-Oct 2024) over
loopback HTTP with a simulated clock, so lapor-sync can be demonstrated and tested end to end.
It never imports lapor-sync's adapters.
"""

from typing import TYPE_CHECKING, Any

from lapor_sync.simulator.auth import AuthMode, Credentials

if TYPE_CHECKING:
    from lapor_sync.simulator.server import END_OF_DATA, START_OF_DATA, Simulator

__all__ = ["END_OF_DATA", "START_OF_DATA", "AuthMode", "Credentials", "Simulator"]
_FROM_SERVER = ("END_OF_DATA", "START_OF_DATA", "Simulator")


def __getattr__(name: str) -> Any:  # noqa: ANN401 - a module attribute of any kind (PEP 562)
    """Import the server (Starlette, the generated world) on first use, not with the package.

    ``lapor-sync``'s command line imports :class:`AuthMode` to build its options; only the
    ``simulator``, ``demo`` and ``check`` commands need the server itself.
    """
    if name in _FROM_SERVER:
        from lapor_sync.simulator import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
