"""Origin policy: cross-site refusal and CORS with credentials."""

from __future__ import annotations

import pytest

from orga_asgi._error_table import describe
from orga_asgi._errors import ConfigurationError, CrossOriginForbidden
from orga_asgi._origin import VARY_ORIGIN, OriginPolicy

APP = "https://app.example.com"
POLICY = OriginPolicy([APP, "HTTP://LocalHost:5173", "https://[::1]:8443", "https://x.test:443"])
SAME_ONLY = OriginPolicy(None)


def check(policy: OriginPolicy, origin=None, site=None, scheme="https", host=b"api.example.com"):
    return policy.check(origin=origin, sec_fetch_site=site, scheme=scheme, host=host)


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        (b"https://app.example.com", APP),
        (b"http://localhost:5173", "http://localhost:5173"),
        (b"https://[::1]:8443", "https://[::1]:8443"),
        (b"https://x.test", "https://x.test"),  # the default port was dropped
    ],
)
def test_allowed_origin_is_returned_for_echo(origin, expected):
    assert check(POLICY, origin, b"cross-site") == expected
    assert check(POLICY, origin, None) == expected


@pytest.mark.parametrize(
    ("origin", "site", "host", "scheme"),
    [
        (None, b"cross-site", b"api.example.com", "https"),
        (b"https://evil.test", b"cross-site", b"api.example.com", "https"),
        (b"https://evil.test", None, b"api.example.com", "https"),  # no Sec-Fetch-Site
        (b"null", None, b"api.example.com", "https"),  # sandboxed iframe, file://
        (b"null", b"same-origin", b"api.example.com", "https"),
        # a sibling subdomain is same-site but another origin
        (b"https://blog.example.com", b"same-site", b"api.example.com", "https"),
        (None, b"same-site", b"api.example.com", "https"),
        (b"http://api.example.com", None, b"api.example.com", "https"),  # other scheme
        (b"https://api.example.com:8443", None, b"api.example.com", "https"),  # other port
        (b"https://api.example.com", None, None, "https"),  # no Host to compare with
        (b"https://app.example.com", b"cross-site", b"api.example.com", "https"),
    ],
)
def test_refused(origin, site, host, scheme):
    policy = SAME_ONLY if origin == b"https://app.example.com" else POLICY
    with pytest.raises(CrossOriginForbidden) as info:
        check(policy, origin, site, scheme, host)
    assert describe(info.value).code == "cross_origin_forbidden"
    assert describe(info.value).status == 403


@pytest.mark.parametrize(
    ("origin", "site", "host", "scheme"),
    [
        (None, None, b"api.example.com", "https"),  # curl, a backend
        (None, b"none", b"api.example.com", "https"),  # typed in the address bar
        (None, b"same-origin", b"api.example.com", "https"),  # same-origin GET
        # same-origin fetch() POST sends its own origin
        (b"https://api.example.com", b"same-origin", b"api.example.com", "https"),
        (b"https://api.example.com", None, b"api.example.com:443", "https"),
        (b"https://API.example.com", None, b"api.example.com", "https"),
        (b"http://localhost:8000", b"same-origin", b"localhost:8000", "http"),
        (b"http://127.0.0.1", None, b"127.0.0.1:80", "http"),
    ],
)
def test_same_origin_and_non_browser_pass_without_cors(origin, site, host, scheme):
    assert check(POLICY, origin, site, scheme, host) is None
    assert check(SAME_ONLY, origin, site, scheme, host) is None


def test_refusal_detail_is_bounded_and_escaped():
    with pytest.raises(CrossOriginForbidden) as info:
        check(POLICY, b"https://evil.test/" + b"a" * 500 + b"\x00")
    assert len(str(info.value)) < 200
    assert "\x00" not in str(info.value)


def test_cors_headers_echo_the_origin_with_credentials():
    headers = dict(POLICY.cors_headers(APP))
    assert headers == {
        b"access-control-allow-origin": b"https://app.example.com",
        b"access-control-allow-credentials": b"true",
        b"access-control-expose-headers": b"X-Request-ID, RateLimit, RateLimit-Policy, Retry-After",
    }
    # a fresh list each time: callers may extend it
    assert POLICY.cors_headers(APP) is not POLICY.cors_headers(APP)


def test_vary_origin_is_offered_for_every_response_when_enabled():
    assert POLICY.enabled
    assert POLICY.vary_header == VARY_ORIGIN == (b"vary", b"Origin")
    assert not SAME_ONLY.enabled
    assert SAME_ONLY.vary_header is None
    assert not OriginPolicy([]).enabled


@pytest.mark.parametrize(
    ("requested", "allowed"),
    [
        (b"authorization", b"Authorization"),
        (b"content-type, Authorization", b"Authorization, Content-Type"),
        (b"x-request-id,content-type,authorization", b"Authorization, Content-Type, X-Request-ID"),
        (b"authorization, x-evil", b"Authorization"),
        (b"x-evil", None),
        (b"", None),
        (None, None),
    ],
)
def test_preflight_headers(requested, allowed):
    headers = POLICY.preflight_headers(APP, requested)
    as_dict = dict(headers)
    assert as_dict[b"access-control-allow-origin"] == b"https://app.example.com"
    assert as_dict[b"access-control-allow-credentials"] == b"true"
    assert as_dict[b"access-control-allow-methods"] == b"GET, POST"
    assert as_dict[b"access-control-max-age"] == b"600"
    assert (b"vary", b"Access-Control-Request-Headers") in headers
    assert as_dict.get(b"access-control-allow-headers") == allowed


def test_configuration_is_normalized_and_accepts_a_string():
    policy = OriginPolicy("https://a.example.com, http://b.example.com:80 ,")
    assert check(policy, b"https://a.example.com") == "https://a.example.com"
    assert check(policy, b"http://b.example.com") == "http://b.example.com"


@pytest.mark.parametrize(
    ("entry", "hint"),
    [
        ("*", "cannot contain '*'"),
        ("https://app.example.com/", "trailing '/'"),
        ("https://app.example.com/path", "without a path"),
        ("https://app.example.com?x=1", "without a path"),
        ("app.example.com", "scheme://host"),
        ("ftp://app.example.com", "scheme://host"),
        ("https://user@app.example.com", "scheme://host"),
        ("https://app.example.com:99999", "port"),
        ("https://*.example.com", "wildcards"),
        ("https://bücher.example", "punycode"),
        ("https://[::zz]", "not valid"),
        ("null", "scheme://host"),
    ],
)
def test_invalid_configuration(entry, hint):
    with pytest.raises(ConfigurationError, match="allowed_origins") as info:
        OriginPolicy([entry])
    assert hint in str(info.value)


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        # a Host no browser sends is nobody's origin, even when the Origin repeats it
        (b"https://user@api.example.com", b"user@api.example.com"),
        (b"https://api.example.com, https://evil.test", b"api.example.com, https://evil.test"),
        (b"https://api.example.com ", b"api.example.com "),
        (b"https://api.example.com/x", b"api.example.com/x"),
        (b"https://b\xc3\xbccher.example", b"b\xc3\xbccher.example"),  # IDNA: browsers send xn--
        (b"https://api.example.com\r\n", b"api.example.com\r\n"),
        (b"https://" + b"a" * 400, b"a" * 400),
        (b"https://", b""),
    ],
)
def test_own_origin_needs_a_plain_host(origin, host):
    with pytest.raises(CrossOriginForbidden):
        check(SAME_ONLY, origin, b"same-origin", "https", host)


@pytest.mark.parametrize("site", [None, b"same-origin", b"cross-site", b"none"])
def test_null_origin_is_refused_even_when_allowed_origins_are_set(site):
    # Sandboxed iframes, file:// pages and some redirects send "null": any page can be one.
    with pytest.raises(CrossOriginForbidden):
        check(POLICY, b"null", site, "https", b"api.example.com")
    with pytest.raises(CrossOriginForbidden):
        check(POLICY, b"null", site, "http", b"null")


def test_punycode_hosts_compare_as_browsers_send_them():
    policy = OriginPolicy(["https://xn--bcher-kva.example"])
    assert check(policy, b"https://xn--bcher-kva.example") == "https://xn--bcher-kva.example"
    same = check(
        SAME_ONLY, b"https://xn--bcher-kva.example", None, "https", b"xn--bcher-kva.example"
    )
    assert same is None


def test_underscore_hosts_are_their_own_origin():
    # Compose service names reach browsers in development.
    assert check(SAME_ONLY, b"http://my_app:8000", None, "http", b"my_app:8000") is None


def test_case_of_an_allowed_origin_is_not_folded():
    # Browsers serialize origins lowercase; another spelling is not the allowed one.
    with pytest.raises(CrossOriginForbidden):
        check(POLICY, b"HTTPS://APP.EXAMPLE.COM", b"cross-site")
