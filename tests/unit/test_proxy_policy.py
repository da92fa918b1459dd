"""The proxy policy (``adapters/national/proxy.py``): which proxy, from which variable, and ``NO_PROXY``'s matching."""

from __future__ import annotations

import pytest

from lapor_sync.adapters.national.proxy import bypassed, choose
from lapor_sync.domain.errors import ConfigurationError

API = "https://api-splp.layanan.go.id/lapor/3.0.0"


@pytest.mark.parametrize(
    ("host", "no_proxy", "expected"),
    [
        ("api-splp.layanan.go.id", "layanan.go.id", True),  # a name matches the names below it
        ("api-splp.layanan.go.id", ".layanan.go.id", True),  # with a leading dot too (curl)
        ("layanan.go.id", ".layanan.go.id", True),  # and itself
        ("api-splp.layanan.go.id", "go.id.example", False),
        ("notlayanan.go.id", "layanan.go.id", False),  # a suffix is a whole label, not characters
        ("API-SPLP.Layanan.GO.ID", "api-splp.LAYANAN.go.id", True),  # no regard to case
        ("api-splp.layanan.go.id.", "api-splp.layanan.go.id", True),  # a fully qualified name
        ("api-splp.layanan.go.id", "intranet.kota, api-splp.layanan.go.id:443", True),  # commas, spaces, a port
        ("api-splp.layanan.go.id", "*", True),
        ("api-splp.layanan.go.id", "intranet.kota *.x", False),  # only a lone * matches all
        ("10.1.2.3", "10.1.2.3", True),
        ("10.1.2.3", "10.1.2.4", False),
        ("10.1.2.3", "10.0.0.0/8", True),
        ("192.168.1.9", "10.0.0.0/8,172.16.0.0/12", False),
        ("2001:db8::5", "2001:db8::/32", True),
        ("[2001:db8::5]", "[2001:db8::5]", True),
        ("api-splp.layanan.go.id", "10.0.0.0/8", False),  # names are never looked up
        ("10.1.2.3", "3", False),
        ("api-splp.layanan.go.id", "", False),
    ],
)
def test_no_proxy_matches_names_suffixes_addresses_ranges_and_star(host, no_proxy, expected):
    assert bypassed(host, no_proxy) is expected


def test_lower_case_variables_win_over_upper_case_and_https_proxy_over_all_proxy():
    env = {"HTTPS_PROXY": "http://upper:3128", "https_proxy": "http://lower:3128", "ALL_PROXY": "socks5://all:1080"}
    assert choose(API, env=env).describe() == "http://lower:3128 (from https_proxy)"
    assert choose(API, env={"ALL_PROXY": "socks5://all:1080"}).describe() == "socks5://all:1080 (from ALL_PROXY)"
    assert choose(API, env={"HTTP_PROXY": "http://plain:3128"}).describe() == "direct (no proxy variable is set)"


def test_the_setting_wins_over_every_variable_no_proxy_included():
    env = {"HTTPS_PROXY": "http://env:3128", "NO_PROXY": "*"}
    assert choose(API, "http://setting:8080", env=env).describe() == "http://setting:8080 (from LAPOR_SYNC_PROXY_URL)"
    assert choose(API, "none", env=env).describe() == "direct (LAPOR_SYNC_PROXY_URL=none)"
    assert choose(API, "DIRECT", env={"HTTPS_PROXY": "http://env:3128"}).route is None


def test_no_proxy_sends_the_base_url_direct_and_says_which_variable_matched():
    env = {"https_proxy": "http://env:3128", "no_proxy": ".go.id"}
    assert choose(API, env=env).describe() == "direct (no_proxy matches api-splp.layanan.go.id)"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/lapor", "https://localhost:8443", "http://[::1]:9000"])
def test_loopback_is_never_proxied_not_even_by_the_setting(url):
    env = {"ALL_PROXY": "socks5://corp:1080"}
    assert choose(url, "http://setting:8080", env=env).describe() == "direct (loopback is never proxied)"


def test_credentials_are_masked_in_what_is_shown():
    choice = choose(API, "http://kota:s3cret%40x@proxy.kota.go.id:3128", explicit_source="LAPOR_SYNC_PROXY_URL_FILE")
    assert choice.describe() == "http://***:***@proxy.kota.go.id:3128 (from LAPOR_SYNC_PROXY_URL_FILE)"
    assert choice.route is not None and choice.route.has_credentials


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "ftp://proxy:21",
            "HTTPS_PROXY: a ftp:// proxy is not supported; use http://, https://, socks5:// or socks5h://",
        ),
        ("http://:3128", "HTTPS_PROXY: no host in the proxy URL; write it as http://host:port"),
    ],
)
def test_an_unusable_proxy_url_is_refused_naming_the_variable_not_the_url(value, message):
    with pytest.raises(ConfigurationError) as refused:
        choose(API, env={"HTTPS_PROXY": value})
    assert str(refused.value) == message


def test_a_proxy_without_a_scheme_is_taken_as_http_as_curl_does():
    assert choose(API, env={"HTTPS_PROXY": "proxy.kota:3128"}).describe() == "http://proxy.kota:3128 (from HTTPS_PROXY)"


def test_a_route_never_shows_its_password_in_its_repr():
    choice = choose(API, "http://kota:s3cret-pw@proxy.kota.go.id:3128")
    assert "s3cret-pw" not in repr(choice) and "s3cret-pw" not in choice.describe()
