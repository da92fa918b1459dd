"""The container's HEALTHCHECK: exit 0 when the worker's ``/healthz`` answers 200, else 1.

Standard library only: the slim image has no curl. It reads ``LAPOR_SYNC_HEALTH_HOST`` and
``LAPOR_SYNC_HEALTH_PORT`` from the environment (defaults 127.0.0.1 and 9464, as the worker's); a
port set only in the TOML file must be set in the environment too. ``/healthz`` answers 503 when
the worker is failing (README "Running it as a service"), and nothing at all before it has started
or after it died: all three are unhealthy.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 5.0  # under the HEALTHCHECK's --timeout, so the check itself reports the failure


def healthz_url(environ: dict[str, str]) -> str:
    """The worker's ``/healthz`` URL from ``LAPOR_SYNC_HEALTH_HOST`` and ``_PORT`` in ``environ``."""
    host = environ.get("LAPOR_SYNC_HEALTH_HOST") or "127.0.0.1"
    port = environ.get("LAPOR_SYNC_HEALTH_PORT") or "9464"
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"http://{host}:{port}/healthz"


def check(url: str, timeout: float = TIMEOUT_SECONDS) -> tuple[bool, str]:
    """Ask ``url`` once; ``(True, "200")`` when it answers 200, else ``(False, why)``.

    Args:
        url: the ``/healthz`` URL.
        timeout: seconds for the connection and for each read.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status == 200, str(answer.status)
    except urllib.error.HTTPError as exc:  # 503: failing
        return False, str(exc.code)
    except urllib.error.URLError as exc:  # not listening yet, or gone: the reason says which
        return False, str(exc.reason)
    except (OSError, ValueError) as exc:  # a timeout while reading, a bad port
        return False, type(exc).__name__


def main() -> int:
    """Check once and print one line; the exit status is what the container engine reads."""
    url = healthz_url(dict(os.environ))
    healthy, why = check(url)
    print(f"{url}: {why}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
