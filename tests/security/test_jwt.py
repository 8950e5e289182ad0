"""``auth.jwt``: bearer JWTs verified against a JWKS served by a tiny in-process IdP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey, Key, KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orga_asgi import ConfigurationError, Principal
from orga_asgi._jwt import JWTVerifier
from orga_asgi.auth import AuthHook, JWTHook, any_of, jwt
from orga_asgi.testing import FakeOrga
from tests._support import caller, make_endpoint

pytestmark = pytest.mark.anyio

JWKS_URL = "https://idp.test/.well-known/jwks.json"
ISSUER = "https://idp.test/"
AUDIENCE = "orga-app"

_RSA = RSAKey.generate_key(2048, {"kid": "rsa-1"})
_RSA_NEXT = RSAKey.generate_key(2048, {"kid": "rsa-2"})
_EC = ECKey.generate_key("P-256", {"kid": "ec-1"})


class IdP:
    """Serves a JWKS and counts the fetches; can be taken down or slowed."""

    def __init__(self, *keys: Key) -> None:
        self.keys = list(keys)
        self.hits = 0
        self.down = False
        self.delay = 0.0
        self.app = Starlette(routes=[Route("/.well-known/jwks.json", self.jwks)])

    async def jwks(self, request: Request) -> Response:
        self.hits += 1
        if self.delay:
            await anyio.sleep(self.delay)
        if self.down:
            return Response("unavailable", status_code=503)
        return JSONResponse(KeySet(self.keys).as_dict(private=False))

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> FakeOrga:
    return FakeOrga()


@pytest.fixture
def idp() -> IdP:
    return IdP(_RSA, _EC)


@pytest.fixture
async def http(idp: IdP) -> AsyncIterator[httpx.AsyncClient]:
    async with idp.client() as client:
        yield client


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "sub": "user-1",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
        "role": "member",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def sign(key: Key, alg: str = "RS256", kid: str | None = None, **overrides: Any) -> str:
    header = {"alg": alg, "kid": kid if kid is not None else key.kid}
    return jose_jwt.encode(header, claims(**overrides), key, algorithms=[alg])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def forged(header: dict[str, Any], secret: bytes | None) -> str:
    """A token signed by hand: ``alg`` none (no signature) or HMAC with ``secret``."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims()).encode())}"
    if secret is None:
        return signing_input + "."
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


class Auth:
    """A jwt hook plus what it returned, and its verifier's clock."""

    def __init__(self, http: httpx.AsyncClient, **options: Any) -> None:
        options.setdefault("audience", AUDIENCE)
        options.setdefault("issuer", ISSUER)
        self.hook = jwt(jwks_url=JWKS_URL, http_client=http, **options)
        self.verifier: JWTVerifier = self.hook.verifier
        self.clock = Clock()
        self.verifier._clock = self.clock
        self.seen: list[Principal | None] = []
        self.observed = Observed(self.hook, self.seen)


class Observed(AuthHook):
    """Wraps a hook to record what it returned; its challenge is the wrapped hook's."""

    def __init__(self, hook: AuthHook, seen: list[Principal | None]) -> None:
        self.hook, self.seen = hook, seen
        self.www_authenticate = hook.www_authenticate

    async def __call__(self, request: Any) -> Principal | None:
        principal = await self.hook(request)
        self.seen.append(principal)
        return principal


async def call(fake: FakeOrga, auth: Auth, *tokens: str) -> list[int]:
    endpoint = make_endpoint(fake, authorize=auth.observed)
    statuses = []
    async with caller(endpoint) as client:
        for token in tokens:
            response = await client.get("/", headers={"authorization": f"Bearer {token}"})
            if response.status_code == 401:
                assert response.headers["www-authenticate"] == "Bearer"
            statuses.append(response.status_code)
    return statuses


# valid tokens ------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "alg"), [(_RSA, "RS256"), (_EC, "ES256")])
async def test_valid_token_is_200_with_principal_from_sub(
    fake: FakeOrga, idp: IdP, http: httpx.AsyncClient, key: Key, alg: str
) -> None:
    auth = Auth(http)
    assert await call(fake, auth, sign(key, alg)) == [200]
    (principal,) = auth.seen
    assert principal is not None
    assert principal.id == "user-1"
    assert principal.claims["role"] == "member"
    assert principal.claims["aud"] == AUDIENCE
    assert idp.hits == 1
    assert len(fake.calls) == 2


async def test_keys_are_cached(fake: FakeOrga, idp: IdP, http: httpx.AsyncClient) -> None:
    auth = Auth(http)
    tokens = [sign(_RSA), sign(_EC, "ES256"), sign(_RSA, sub="user-2")]
    assert await call(fake, auth, *tokens) == [200, 200, 200]
    assert idp.hits == 1


async def test_audience_list_and_optional_checks(
    fake: FakeOrga, idp: IdP, http: httpx.AsyncClient
) -> None:
    auth = Auth(http, audience=["other-app", AUDIENCE])
    assert await call(fake, auth, sign(_RSA), sign(_RSA, aud=["x", AUDIENCE])) == [200, 200]
    unchecked = Auth(http, audience=None, issuer=None)
    assert await call(fake, unchecked, sign(_RSA, aud="anything", iss="anyone")) == [200]


async def test_within_leeway_is_accepted(fake: FakeOrga, idp: IdP, http: httpx.AsyncClient) -> None:
    now = int(time.time())
    auth = Auth(http)
    tokens = [sign(_RSA, exp=now - 10), sign(_RSA, nbf=now + 10)]
    assert await call(fake, auth, *tokens) == [200, 200]


# refused tokens ----------------------------------------------------------------------


class _FromNow(int):
    """A claim's time as seconds from when the test signs it, not from collection (a time
    fixed at collection ages while the suite runs: "600 s ahead" is valid 570 s later)."""

    def __repr__(self) -> str:
        return f"now{int(self):+d}"


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": _FromNow(-120)},  # expired, beyond the 30 s leeway
        {"nbf": _FromNow(600)},  # not yet valid
        {"iat": _FromNow(600)},  # issued in the future
        {"aud": "other-app"},
        {"aud": ["other-app", "third-app"]},
        {"aud": None},  # missing while an audience is configured
        {"iss": "https://evil.test/"},
        {"iss": None},
        {"exp": None},  # a bearer token that never expires
        {"sub": None},
        {"sub": ""},
        {"exp": "tomorrow"},
    ],
    ids=lambda o: ",".join(f"{k}={v!r}" for k, v in o.items()),
)
async def test_invalid_claims_are_401(
    fake: FakeOrga, http: httpx.AsyncClient, overrides: dict[str, Any]
) -> None:
    now = int(time.time())
    overrides = {k: now + v if isinstance(v, _FromNow) else v for k, v in overrides.items()}
    auth = Auth(http)
    assert await call(fake, auth, sign(_RSA, **overrides)) == [401]
    assert auth.seen == [None]
    assert fake.calls == []


async def test_bad_signature_and_garbage_are_401(fake: FakeOrga, http: httpx.AsyncClient) -> None:
    good = sign(_RSA)
    head, payload, signature = good.split(".")
    other_payload = b64(json.dumps(claims(sub="admin")).encode())
    tokens = [
        f"{head}.{other_payload}.{signature}",  # payload swapped
        f"{head}.{payload}.{b64(b'x' * 256)}",  # signature replaced
        sign(RSAKey.generate_key(2048, {"kid": "rsa-1"})),  # right kid, wrong key
        "not-a-jwt",
        "a.b.c",
        f"{head}.{payload}",
    ]
    auth = Auth(http)
    assert await call(fake, auth, *tokens) == [401] * len(tokens)


async def test_ec_key_cannot_sign_for_an_rsa_kid(fake: FakeOrga, http: httpx.AsyncClient) -> None:
    token = sign(_EC, "ES256", kid="rsa-1")
    assert await call(fake, Auth(http), token) == [401]


async def test_keys_embedded_in_the_token_are_ignored(
    fake: FakeOrga, http: httpx.AsyncClient
) -> None:
    attacker = RSAKey.generate_key(2048, {"kid": "rsa-1"})
    public = attacker.as_dict(private=False)
    tokens = [
        jose_jwt.encode({"alg": "RS256", "kid": "rsa-1", "jwk": public}, claims(), attacker),
        jose_jwt.encode(
            {"alg": "RS256", "kid": "evil", "jku": "https://evil.test/jwks"}, claims(), attacker
        ),
    ]
    assert await call(fake, Auth(http), *tokens) == [401, 401]


async def test_token_without_kid_needs_a_single_key_jwks(
    fake: FakeOrga, idp: IdP, http: httpx.AsyncClient
) -> None:
    token = jose_jwt.encode({"alg": "RS256"}, claims(), _RSA)
    assert await call(fake, Auth(http), token) == [401]  # two keys: which one?
    idp.keys = [_RSA]
    assert await call(fake, Auth(http), token) == [200]


async def test_alg_none_is_401(fake: FakeOrga, http: httpx.AsyncClient) -> None:
    tokens = [
        forged({"alg": "none", "typ": "JWT", "kid": "rsa-1"}, None),
        forged({"alg": "none", "typ": "JWT"}, None),
    ]
    assert await call(fake, Auth(http), *tokens) == [401, 401]


@pytest.mark.parametrize("algorithms", [("RS256", "ES256"), ("RS256", "HS256")])
async def test_hs256_with_the_public_key_as_secret_is_401(
    fake: FakeOrga, http: httpx.AsyncClient, algorithms: tuple[str, ...]
) -> None:
    # Algorithm confusion: HMAC "signed" with the RSA public key an attacker can download.
    public = _RSA.as_pem(private=False)
    jwk_text = json.dumps(_RSA.as_dict(private=False)).encode()
    tokens = [
        forged({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, public),
        forged({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, jwk_text),
    ]
    auth = Auth(http, algorithms=algorithms)
    assert await call(fake, auth, *tokens) == [401, 401]


async def test_alg_outside_the_allowed_list_is_401(fake: FakeOrga, http: httpx.AsyncClient) -> None:
    auth = Auth(http, algorithms="RS256")
    assert await call(fake, auth, sign(_EC, "ES256"), sign(_RSA, "RS512")) == [401, 401]


# the key cache -----------------------------------------------------------------------


async def test_rotation_unknown_kid_refreshes_exactly_once(
    fake: FakeOrga, idp: IdP, http: httpx.AsyncClient
) -> None:
    auth = Auth(http)
    assert await call(fake, auth, sign(_RSA)) == [200]
    assert idp.hits == 1
    idp.keys = [_RSA_NEXT, _EC]  # the IdP rotates
    auth.clock.now += 31  # past min_refresh_interval
    assert await call(fake, auth, sign(_RSA_NEXT), sign(_RSA_NEXT, sub="user-2")) == [200, 200]
    assert idp.hits == 2
    assert [p.id if p else None for p in auth.seen] == ["user-1", "user-1", "user-2"]
    # The retired key's id is now unknown: a refresh is allowed again later, but the
    # refreshed set does not contain it.
    auth.clock.now += 31
    assert await call(fake, auth, sign(_RSA)) == [401]
    assert idp.hits == 3


async def test_garbage_kids_within_min_refresh_interval_do_not_refetch(
    fake: FakeOrga, idp: IdP, http: httpx.AsyncClient
) -> None:
    auth = Auth(http)
    assert await call(fake, auth, sign(_RSA)) == [200]
    tokens = [sign(_RSA, kid=f"garbage-{i}") for i in range(20)]
    auth.clock.now += 29
    assert await call(fake, auth, *tokens) == [401] * 20
    assert idp.hits == 1
    auth.clock.now += 2  # the interval has passed: one more fetch, then quiet again
    assert await call(fake, auth, *tokens) == [401] * 20
    assert idp.hits == 2
    assert await call(fake, auth, sign(_RSA)) == [200]  # the real key still works
    assert idp.hits == 2


async def test_concurrent_refreshes_coalesce(
    fake: FakeOrga, idp: IdP, http: httpx.AsyncClient
) -> None:
    auth = Auth(http)
    idp.keys = [_RSA_NEXT]
    idp.delay = 0.05
    endpoint = make_endpoint(fake, authorize=auth.observed, rate_limits=None, ip_rate_limits=None)
    statuses: list[int] = []

    async with caller(endpoint) as client:

        async def one(i: int) -> None:
            token = sign(_RSA_NEXT, sub=f"user-{i}")
            response = await client.get("/", headers={"authorization": f"Bearer {token}"})
            statuses.append(response.status_code)

        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(one, i)
    assert statuses == [200] * 10
    assert idp.hits == 1


async def test_cache_expires_after_ttl(fake: FakeOrga, idp: IdP, http: httpx.AsyncClient) -> None:
    auth = Auth(http, cache_ttl=60)
    assert await call(fake, auth, sign(_RSA)) == [200]
    auth.clock.now += 59
    assert await call(fake, auth, sign(_RSA)) == [200]
    assert idp.hits == 1
    auth.clock.now += 2
    assert await call(fake, auth, sign(_RSA)) == [200]
    assert idp.hits == 2


async def test_jwks_down_is_401_with_a_warning_without_the_token(
    fake: FakeOrga, idp: IdP, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    idp.down = True
    token = sign(_RSA)
    auth = Auth(http)
    with caplog.at_level(logging.DEBUG, logger="orga_asgi"):
        assert await call(fake, auth, token, token) == [401, 401]
    assert idp.hits == 1  # the second request did not hammer the IdP
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("orga_asgi")
    ]
    assert len(warnings) == 1
    assert warnings[0].name.startswith("orga_asgi")
    assert "HTTP 503" in warnings[0].getMessage()
    assert "idp.test" in warnings[0].getMessage()
    assert token not in caplog.text
    for part in token.split("."):
        assert part not in caplog.text
    assert fake.calls == []
    # The IdP comes back: after the interval, keys are fetched and tokens accepted.
    idp.down = False
    auth.clock.now += 31
    assert await call(fake, auth, token) == [200]


async def test_cached_keys_survive_a_failed_refresh(
    fake: FakeOrga, idp: IdP, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    auth = Auth(http)
    assert await call(fake, auth, sign(_RSA)) == [200]
    idp.down = True
    auth.clock.now += 301  # the cache has expired; the refresh fails
    with caplog.at_level(logging.WARNING, logger="orga_asgi"):
        assert await call(fake, auth, sign(_RSA)) == [200]
    assert idp.hits == 2
    assert "keeping the cached keys" in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"keys": "x"}',
        b'{"keys": [{"kty": "RSA", "n": "?"}]}',
        b'{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}',
    ],
)
async def test_unusable_jwks_is_401(
    fake: FakeOrga, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    app = Starlette(
        routes=[
            Route(
                "/.well-known/jwks.json",
                lambda request: Response(body, media_type="application/json"),
            )
        ]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        with caplog.at_level(logging.WARNING, logger="orga_asgi"):
            assert await call(fake, Auth(http), sign(_RSA)) == [401]
    assert "could not fetch the JWKS" in caplog.text


async def test_redirects_are_not_followed(fake: FakeOrga) -> None:
    app = Starlette(
        routes=[
            Route(
                "/.well-known/jwks.json",
                lambda request: Response(
                    status_code=302, headers={"location": "http://evil.test/k"}
                ),
            )
        ]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        assert await call(fake, Auth(http), sign(_RSA)) == [401]


# configuration and lifecycle ---------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://idp.test/jwks.json", "http://10.0.0.1/jwks.json", "ftp://idp.test/jwks", "jwks"],
)
def test_jwks_url_must_be_https_unless_loopback(url: str) -> None:
    with pytest.raises(ConfigurationError, match="https"):
        jwt(jwks_url=url)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/jwks", "http://localhost/jwks", "http://[::1]/jwks", JWKS_URL],
)
def test_https_or_loopback_jwks_url_is_accepted(url: str) -> None:
    jwt(jwks_url=url)


@pytest.mark.parametrize(
    "options",
    [
        {"algorithms": ("none",)},
        {"algorithms": ("RS256", "none")},
        {"algorithms": ()},
        {"algorithms": ("RS257",)},
        {"audience": ""},
        {"audience": []},
        {"issuer": ""},
        {"leeway": -1},
        {"cache_ttl": 0},
        {"no_such_option": 1},
    ],
)
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        jwt(jwks_url=JWKS_URL, **options)


def test_missing_joserfc_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "orga_asgi._jwt")
    monkeypatch.setitem(sys.modules, "joserfc", None)
    with pytest.raises(ModuleNotFoundError, match=r"orga-asgi\[jwt\]"):
        jwt(jwks_url=JWKS_URL)


def test_repr_shows_no_query_or_userinfo() -> None:
    hook = jwt(jwks_url="https://user:pw@idp.test/jwks?key=s3cret")
    text = repr(hook.verifier)
    assert "s3cret" not in text
    assert "pw" not in text
    assert "idp.test" in text


async def test_aclose_closes_the_client_it_created(
    fake: FakeOrga, idp: IdP, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[httpx.AsyncClient] = []
    real = httpx.AsyncClient

    def factory(**kwargs: Any) -> httpx.AsyncClient:
        client = real(transport=httpx.ASGITransport(app=idp.app), **kwargs)
        created.append(client)
        return client

    hook = jwt(jwks_url=JWKS_URL, audience=AUDIENCE)
    combined = any_of(hook)
    endpoint = make_endpoint(fake, authorize=combined)
    async with caller(endpoint) as client:
        monkeypatch.setattr(httpx, "AsyncClient", factory)  # only the verifier creates one now
        response = await client.get("/", headers={"authorization": f"Bearer {sign(_RSA)}"})
    assert response.status_code == 200
    assert len(created) == 1
    assert not created[0].is_closed
    await combined.aclose()  # any_of passes aclose on
    assert created[0].is_closed
    await hook.aclose()  # idempotent


async def test_aclose_leaves_a_supplied_client_open(http: httpx.AsyncClient) -> None:
    async with JWTVerifier(jwks_url=JWKS_URL, http_client=http) as verifier:
        assert await verifier.verify(sign(_RSA)) is not None
    assert not http.is_closed


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_works_on_trio(http: httpx.AsyncClient, idp: IdP) -> None:
    verifier = JWTVerifier(jwks_url=JWKS_URL, audience=AUDIENCE, http_client=http)
    principal = await verifier.verify(sign(_RSA))
    assert principal is not None
    assert principal.id == "user-1"
    assert await verifier.verify(sign(_RSA, aud="other")) is None
    assert idp.hits == 1


# hostile tokens (the hardening pass) ---------------------------------------------------


def signed_raw(header: dict[str, Any], payload: str) -> str:
    """A token RS256-signed by the IdP's own key, with any header and payload text."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload.encode())}"
    signature = _RSA.private_key.sign(  # type: ignore[union-attr]
        signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
    )
    return f"{signing_input}.{b64(signature)}"


@pytest.mark.parametrize(
    "crit",
    [["kid"], ["b64"], ["exp"], ["zzz"], "kid", 5],
    ids=["registered", "b64", "claim-name", "unknown", "not-a-list", "number"],
)
async def test_tokens_marking_an_extension_critical_are_401(
    fake: FakeOrga, http: httpx.AsyncClient, crit: Any
) -> None:
    # RFC 7515 4.1.11: no extension is implemented, so any `crit` means refuse.
    header = {"alg": "RS256", "kid": "rsa-1", "crit": crit, "b64": True, "zzz": 1}
    token = signed_raw(header, json.dumps(claims()))
    assert await call(fake, Auth(http), token) == [401]
    assert await call(
        fake, Auth(http), signed_raw({"alg": "RS256", "kid": "rsa-1"}, json.dumps(claims()))
    ) == [200]


@pytest.mark.parametrize(
    "sub",
    ["x" * 257, "a\nb", "tab\there", 42, None, ""],
    ids=["long", "newline", "tab", "int", "none", "empty"],
)
async def test_a_signed_token_whose_sub_is_no_principal_id_is_401_not_500(
    fake: FakeOrga, http: httpx.AsyncClient, sub: Any
) -> None:
    auth = Auth(http)
    assert await call(
        fake,
        auth,
        signed_raw({"alg": "RS256", "kid": "rsa-1"}, json.dumps(claims(sub=sub) | {"sub": sub})),
    ) == [401]
    assert auth.seen == [None]


async def test_deeply_nested_signed_claims_are_401_not_500(
    fake: FakeOrga, http: httpx.AsyncClient
) -> None:
    payload = json.dumps(claims())[:-1] + ', "deep": ' + "[" * 5000 + "]" * 5000 + "}"
    assert await call(fake, Auth(http), signed_raw({"alg": "RS256", "kid": "rsa-1"}, payload)) == [
        401
    ]


@pytest.mark.parametrize(("depth", "status"), [(20, 200), (40, 401)])
async def test_claims_nesting_has_one_bound_on_every_python(
    fake: FakeOrga, http: httpx.AsyncClient, depth: int, status: int
) -> None:
    # Below RecursionError on every interpreter, so only the verifier's own bound decides.
    payload = json.dumps(claims())[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    token = signed_raw({"alg": "RS256", "kid": "rsa-1"}, payload)
    assert await call(fake, Auth(http), token) == [status]


async def test_huge_tokens_are_refused_before_any_work(
    fake: FakeOrga, idp: IdP, http: httpx.AsyncClient
) -> None:
    huge = sign(_RSA, blob="x" * 20_000)  # validly signed, but 20 KiB
    auth = Auth(http)
    assert await auth.verifier.verify(huge) is None
    assert idp.hits == 0  # refused before the key set was even needed
    assert await auth.verifier.verify(sign(_RSA)) is not None


def test_jwt_returns_an_auth_hook_with_a_bearer_challenge() -> None:
    hook = jwt(jwks_url=JWKS_URL)
    assert isinstance(hook, JWTHook)
    assert isinstance(hook, AuthHook)
    assert hook.www_authenticate == "Bearer"
    assert isinstance(hook.verifier, JWTVerifier)
    assert "idp.test" in repr(hook)
