"""The proxy policy of the national client: which proxy carries a request to LAPOR!, and which setting said so.

The rules, in order (README, "Configuration", "Proxies"):

1. Loopback is never proxied (the simulator, a local gateway stub, a tunnel's local end).
2. Plain ``http://`` is never proxied: the credentials would reach the proxy unencrypted.
3. ``LAPOR_SYNC_PROXY_URL`` (or the file named by ``LAPOR_SYNC_PROXY_URL_FILE``) wins over every
   standard variable, ``NO_PROXY`` included: a proxy URL, or ``none``/``direct`` for no proxy.
4. Otherwise ``https_proxy``, ``HTTPS_PROXY``, ``all_proxy``, ``ALL_PROXY``, the first one set
   (lower case before upper case, as curl and Python's ``urllib`` read them), unless ``NO_PROXY``
   (or ``no_proxy``) matches the host (:func:`bypassed`). ``HTTP_PROXY`` serves plain http only,
   which rule 2 sends direct.

A proxy is ``http://`` (HTTPS goes through it in a ``CONNECT`` tunnel, TLS end to end), ``https://``
(the same, the proxy itself reached over TLS) or ``socks5://``/``socks5h://``. Credentials in the
URL (``http://user:password@proxy:3128``) are sent as ``Proxy-Authorization: Basic`` (SOCKS5: its
username/password method); they are never shown (:meth:`ProxyRoute.shown`).

httpx would read the variables itself when a client is built; every client of the national
platform is built with ``trust_env=False`` and the transports of :meth:`ProxyRoute.transport`
instead, so what this module decides is what happens.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from lapor_sync.domain.errors import ConfigurationError
from lapor_sync.runtime.loopback import is_loopback

SETTING = "LAPOR_SYNC_PROXY_URL"
OFF = frozenset({"none", "direct"})
"""Values of ``LAPOR_SYNC_PROXY_URL`` that turn proxies off."""
SCHEMES = ("http", "https", "socks5", "socks5h")
_HTTPS_VARIABLES = ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
_NO_PROXY_VARIABLES = ("no_proxy", "NO_PROXY")
_DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}


@dataclass(frozen=True)
class ProxyRoute:
    """A proxy requests to one host go through.

    Attributes:
        url: the proxy's URL, credentials included (never shown: use :meth:`shown`).
        source: the variable it came from, e.g. ``HTTPS_PROXY`` or ``LAPOR_SYNC_PROXY_URL_FILE``.
    """

    url: str = field(repr=False)  # may hold a password: a repr in a traceback or log must not show it
    source: str = ""

    @property
    def parsed(self) -> httpx.URL:
        """The URL parsed (``http://`` assumed when the scheme is left out, as curl does)."""
        return httpx.URL(self.url if "://" in self.url else f"http://{self.url}")

    @property
    def address(self) -> tuple[str, int]:
        """The proxy's host and port."""
        url = self.parsed
        return url.host, url.port or _DEFAULT_PORTS.get(url.scheme, 1080)

    @property
    def where(self) -> str:
        """``host:port`` of the proxy (``[v6]:port`` for an IPv6 address), for messages."""
        host, port = self.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def has_credentials(self) -> bool:
        """Whether the URL carries a user name (and password) for the proxy."""
        return bool(self.parsed.userinfo)

    @property
    def is_socks(self) -> bool:
        """Whether this is a SOCKS5 proxy."""
        return self.parsed.scheme.startswith("socks")

    def shown(self) -> str:
        """``scheme://host:port``, with ``***:***@`` in place of credentials: safe for any output."""
        url = self.parsed
        return f"{url.scheme}://{'***:***@' if self.has_credentials else ''}{self.where}"

    def transport(self, verify: ssl.SSLContext | bool) -> httpx.HTTPTransport:
        """The httpx transport sending through this proxy, verifying the server with ``verify``."""
        return httpx.HTTPTransport(proxy=httpx.Proxy(self.parsed), verify=verify)


@dataclass(frozen=True)
class ProxyChoice:
    """What the policy decided for one URL, and why, for ``config show`` and ``doctor``.

    Attributes:
        route: the proxy, or ``None`` for a direct connection.
        reason: why, one phrase: ``from HTTPS_PROXY``, ``loopback is never proxied``, ...
    """

    route: ProxyRoute | None
    reason: str

    def describe(self) -> str:
        """``http://proxy:3128 (from HTTPS_PROXY)`` or ``direct (no proxy variable is set)``, masked."""
        return f"{self.route.shown()} ({self.reason})" if self.route else f"direct ({self.reason})"


def choose(
    url: str, explicit: str | None = None, *, explicit_source: str = SETTING, env: Mapping[str, str] | None = None
) -> ProxyChoice:
    """Decide the proxy for requests to ``url`` by the rules of this module.

    Args:
        url: where requests go (the API base URL, the OAuth2 token URL).
        explicit: ``LAPOR_SYNC_PROXY_URL``'s value, or ``None`` when unset.
        explicit_source: the variable it came from (``LAPOR_SYNC_PROXY_URL`` or ``..._FILE``).
        env: the environment; ``os.environ`` when ``None``.

    Raises:
        ConfigurationError: a proxy URL that is not ``http``, ``https``, ``socks5`` or ``socks5h``,
            or has no host; the message names the variable, never the URL (it may hold a password).
    """
    env = os.environ if env is None else env
    target = httpx.URL(url)
    if is_loopback(target.host):
        return ProxyChoice(None, "loopback is never proxied")
    if target.scheme != "https":
        return ProxyChoice(None, "plain http:// is never proxied")
    if explicit is not None and explicit.strip():
        if explicit.strip().lower() in OFF:
            return ProxyChoice(None, f"{explicit_source}={explicit.strip().lower()}")
        return ProxyChoice(_valid(ProxyRoute(explicit.strip(), explicit_source)), f"from {explicit_source}")
    named = next(((name, env[name].strip()) for name in _HTTPS_VARIABLES if env.get(name, "").strip()), None)
    if named is None:
        return ProxyChoice(None, "no proxy variable is set")
    variable, value = named
    no_proxy_name = next((name for name in _NO_PROXY_VARIABLES if env.get(name, "").strip()), None)
    if no_proxy_name and bypassed(target.host, env[no_proxy_name]):
        return ProxyChoice(None, f"{no_proxy_name} matches {target.host}")
    return ProxyChoice(_valid(ProxyRoute(value, variable)), f"from {variable}")


def _valid(route: ProxyRoute) -> ProxyRoute:
    """Return ``route`` when its URL can be used; raise naming its variable otherwise."""
    try:
        url = route.parsed
    except httpx.InvalidURL:
        raise ConfigurationError(f"{route.source}: not a URL; write it as http://host:port") from None
    if url.scheme not in SCHEMES:
        raise ConfigurationError(
            f"{route.source}: a {url.scheme}:// proxy is not supported; use http://, https://, socks5:// or socks5h://"
        )
    if not url.host:
        raise ConfigurationError(f"{route.source}: no host in the proxy URL; write it as http://host:port")
    if route.is_socks and importlib.util.find_spec("socksio") is None:
        raise ConfigurationError(
            f"{route.source}: a SOCKS proxy needs the socksio package (pip install 'httpx[socks]'), "
            f"or set {SETTING}=none to connect direct"
        )
    return route


def bypassed(host: str, no_proxy: str) -> bool:
    """Tell whether ``NO_PROXY``'s value ``no_proxy`` sends requests to ``host`` direct.

    Entries are separated by commas or spaces and compared without regard to case. ``*`` matches
    every host. A name matches itself and every name below it, with or without a leading dot
    (``example.go.id`` and ``.example.go.id`` both match ``api.example.go.id``), as curl reads
    them. An IP address matches itself; a CIDR range (``10.0.0.0/8``) every address in it. Names
    are never looked up: a CIDR range matches a host given as an address only. A ``:port`` on an
    entry is ignored.
    """
    host = host.strip("[]").lower().rstrip(".")
    address = _address(host)
    for entry in no_proxy.replace(",", " ").split():
        entry = entry.lower()
        if entry == "*":
            return True
        if _matches(host, address, entry):
            return True
    return False


def _matches(host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, entry: str) -> bool:
    if "/" in entry:
        try:
            network = ipaddress.ip_network(entry.strip("[]"), strict=False)
        except ValueError:
            return False
        return address is not None and address.version == network.version and address in network
    entry = _without_port(entry)
    as_address = _address(entry)
    if as_address is not None or address is not None:
        return as_address is not None and as_address == address
    name = entry.lstrip(".").rstrip(".")
    return bool(name) and (host == name or host.endswith("." + name))


def _without_port(entry: str) -> str:
    """``host:port`` → ``host``; ``[v6]:port`` → ``v6``; a bare IPv6 address stays whole."""
    if entry.startswith("["):
        return entry[1:].split("]", 1)[0]
    if entry.count(":") == 1:
        return entry.split(":", 1)[0]
    return entry


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
