"""The built-in SP4N-LAPOR! simulator: "the other side" of the integration, following CONTRACT.md.

It serves a deterministic data set (1,983 complaints to Kota Palangka Raya, Jan-Oct 2024) over
loopback HTTP with a simulated clock, so lapor-sync can be demonstrated and tested end to end.
It never imports lapor-sync's adapters.
"""

from lapor_sync.simulator.auth import AuthMode, Credentials
from lapor_sync.simulator.server import END_OF_DATA, START_OF_DATA, Simulator

__all__ = ["END_OF_DATA", "START_OF_DATA", "AuthMode", "Credentials", "Simulator"]
