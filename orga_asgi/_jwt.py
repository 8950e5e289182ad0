"""Bearer JWTs verified against an identity provider's JWKS, with joserfc.

The key set is fetched asynchronously, cached for ``cache_ttl`` seconds and refreshed early
when a token names a key id we do not know (key rotation), but never more than once per
``min_refresh_interval``: tokens with made-up key ids cannot make us hammer the IdP.
Concurrent refreshes coalesce into one fetch.

Every reason a token is not acceptable (bad signature, expired, wrong audience, unknown key,
unreadable) is ``None``, a 401, never an exception. When the JWKS cannot be fetched and no
keys are cached, tokens cannot be verified and are refused the same way (401, with a WARNING
for the operator): failing closed is the conservative choice, and the error table has no
code that would tell the caller "the identity provider is down" without telling an attacker
too. Cached keys outlive a failed refresh, so a blip of the IdP does not log everyone out.
Neither the token nor anything decoded from it is ever logged or put in an exception.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import httpx
from joserfc import jws
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key, KeySet

from ._errors import ConfigurationError
from ._log import get_logger
from ._principal import Principal

if TYPE_CHECKING:
    from joserfc.jwt import ClaimsOption

__all__ = ["JWTVerifier"]

logger = get_logger("orga_asgi.jwt")

_MAX_JWKS_BYTES = 512 * 1024
# Far above any real access token (a few KiB with many claims), far below what would cost.
_MAX_TOKEN_LENGTH = 16 * 1024
_MAX_CLAIMS_DEPTH = 32  # claims are flat in practice; a bound keeps hooks safe from nesting
_ASYMMETRIC = frozenset({"RSA", "EC", "OKP"})


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class JWTVerifier:
    """Verify bearer JWTs against a JWKS; the principal id is the ``sub`` claim.

    Args:
        jwks_url: where the IdP publishes its keys; https, or http on a loopback host.
        audience: accepted ``aud`` value(s); when set, tokens without one are refused.
            Set it: without it a token minted for another app of the same IdP is accepted.
        issuer: the required ``iss``; when set, tokens without it are refused.
        algorithms: accepted ``alg`` values. ``none`` is always refused; HMAC (``HS*``)
            only when listed here, and only with ``oct`` keys the JWKS itself publishes.
        leeway: seconds of clock skew allowed for ``exp``, ``nbf`` and ``iat``.
        cache_ttl: seconds the key set is used before it is fetched again.
        min_refresh_interval: minimum seconds between two fetches of the JWKS.
        timeout: seconds for one JWKS fetch.
        http_client: an ``httpx.AsyncClient`` to fetch with (you close it); by default
            one is created on first use and closed by :meth:`aclose`.

    A token must carry ``exp``: a bearer token that never expires is refused. A token
    without a ``kid`` header is accepted only while the JWKS holds a single key. Keys named
    in the token itself (``jwk``, ``jku``, ``x5u``, ``x5c``) are never used. Tokens longer
    than 16 KiB, with a ``crit`` header, or whose ``sub`` is no valid principal id (see
    :class:`~orga_asgi.Principal`) are refused.

    Raises:
        ConfigurationError: a setting is wrong.
    """

    def __init__(
        self,
        *,
        jwks_url: str,
        audience: str | Sequence[str] | None = None,
        issuer: str | None = None,
        algorithms: str | Sequence[str] = ("RS256", "ES256"),
        leeway: float = 30,
        cache_ttl: float = 300,
        min_refresh_interval: float = 30,
        timeout: float = 5.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        try:
            url = httpx.URL(jwks_url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ConfigurationError(f"jwks_url is not a URL: {exc}") from None
        secure = url.scheme == "https" or (url.scheme == "http" and _is_loopback(url.host))
        if not (secure and url.host):
            raise ConfigurationError(
                "jwks_url must be an https URL (http is allowed only for a loopback host): "
                "keys fetched over plain http could be swapped by anyone on the path"
            )
        algs = (algorithms,) if isinstance(algorithms, str) else tuple(algorithms)
        unknown = [a for a in algs if a not in jws.JWSRegistry.algorithms]
        if not algs or "none" in algs or unknown:
            raise ConfigurationError(
                f"algorithms must name JWS algorithms other than 'none'; got {algs!r}"
            )
        auds = [audience] if isinstance(audience, str) else list(audience or ())
        if audience is not None and not (auds and all(isinstance(a, str) and a for a in auds)):
            raise ConfigurationError("audience must be a non-empty string or list of strings")
        if issuer is not None and not issuer:
            raise ConfigurationError("issuer must be a non-empty string or None")
        if leeway < 0 or cache_ttl <= 0 or min_refresh_interval < 0 or timeout <= 0:
            raise ConfigurationError(
                "leeway and min_refresh_interval must be >= 0, cache_ttl and timeout > 0"
            )
        self._jwks_url = str(url)
        self._log_url = str(url.copy_with(query=None, fragment=None, username=None, password=None))
        self.algorithms = algs
        self._symmetric = any(a.startswith("HS") for a in algs)
        self._registry = jws.JWSRegistry(algorithms=algs, strict_check_header=False)
        options: dict[str, ClaimsOption] = {"exp": {"essential": True}}
        if auds:
            options["aud"] = {"essential": True, "values": auds}
        if issuer is not None:
            options["iss"] = {"essential": True, "value": issuer}
        self._claims = jose_jwt.JWTClaimsRegistry(None, int(leeway), **options)
        self._cache_ttl = cache_ttl
        self._min_refresh = min_refresh_interval
        self._timeout = timeout
        self._client = http_client
        self._owns_client = http_client is None
        self._clock: Callable[[], float] = time.monotonic
        self._lock = anyio.Lock()
        self._keys: KeySet | None = None
        self._kids: frozenset[str] = frozenset()
        self._fetched_at = 0.0
        self._attempted_at: float | None = None

    def __repr__(self) -> str:
        return f"JWTVerifier(jwks_url={self._log_url!r}, algorithms={self.algorithms!r})"

    async def verify(self, token: str) -> Principal | None:
        """Return the principal of a valid ``token``, else ``None`` (never raises for it)."""
        if len(token) > _MAX_TOKEN_LENGTH:  # before any decoding: a cap on the work per token
            return None
        try:
            header = jws.extract_compact(token.encode("ascii"), registry=self._registry).headers()
        except (JoseError, ValueError, TypeError, KeyError, RecursionError):
            return None
        kid = header.get("kid")
        if (kid is not None and not isinstance(kid, str)) or "crit" in header:
            # No JWS extension is implemented here, so RFC 7515 (4.1.11) requires refusing
            # any token that marks one critical; joserfc would accept registered names.
            return None
        keys = await self._key_set(kid)
        if keys is None:
            return None
        try:
            decoded = jose_jwt.decode(token, keys, registry=self._registry)
            self._claims.validate(decoded.claims)
            if _depth(decoded.claims) > _MAX_CLAIMS_DEPTH:
                # The same refusal on every Python: 3.13's json parser decodes nesting
                # that older ones stop with RecursionError, and hooks must not get it either.
                raise ValueError("claims nested too deep")
        except (JoseError, ValueError, TypeError, KeyError, RecursionError) as exc:
            # RecursionError: deeply nested claims (only a signed token gets that far).
            logger.debug("JWT refused: %s", type(exc).__name__)
            return None
        sub = decoded.claims.get("sub")
        if not isinstance(sub, str):
            return None
        try:
            return Principal(id=sub, claims=decoded.claims)
        except ValueError:  # a sub no principal id can be: empty, too long, control characters
            logger.debug("JWT refused: its sub is not a usable principal id")
            return None

    async def aclose(self) -> None:
        """Close the HTTP client this verifier created (a supplied one is left open)."""
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def __aenter__(self) -> JWTVerifier:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _usable(self, kid: str | None, now: float) -> bool:
        return (
            self._keys is not None
            and now - self._fetched_at < self._cache_ttl
            and (kid is None or kid in self._kids)
        )

    async def _key_set(self, kid: str | None) -> KeySet | None:
        if self._usable(kid, self._clock()):
            return self._keys
        async with self._lock:
            now = self._clock()
            if self._usable(kid, now):  # another request refreshed while we waited
                return self._keys
            if self._attempted_at is None or now - self._attempted_at >= self._min_refresh:
                self._attempted_at = now
                await self._refresh()
            return self._keys

    async def _refresh(self) -> None:
        try:
            with anyio.fail_after(self._timeout):  # a total deadline, not per read
                keys = await self._fetch()
        except Exception as exc:  # any failure: keep the old keys, say why
            reason = exc.args[0] if isinstance(exc, _JWKSError) else type(exc).__name__
            logger.warning(
                "could not fetch the JWKS from %s (%s); %s",
                self._log_url,
                reason,
                "keeping the cached keys" if self._keys is not None else "refusing JWTs",
            )
            return
        self._keys = keys
        self._kids = frozenset(k.kid for k in keys if k.kid)
        self._fetched_at = self._clock()

    async def _fetch(self) -> KeySet:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        body = bytearray()
        request = self._client.build_request(
            "GET", self._jwks_url, headers={"accept": "application/json"}, timeout=self._timeout
        )
        response = await self._client.send(request, stream=True)
        try:
            if response.status_code != 200:
                raise _JWKSError(f"HTTP {response.status_code}")
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > _MAX_JWKS_BYTES:
                    raise _JWKSError("response too large")
        finally:
            await response.aclose()
        data: Any = json.loads(body)
        entries = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise _JWKSError("no 'keys' list")
        keys: list[Key] = []
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            if entry.get("kty") not in _ASYMMETRIC and not (
                self._symmetric and entry.get("kty") == "oct"
            ):
                continue
            try:
                keys.append(JWKRegistry.import_key(entry))
            except (JoseError, ValueError, TypeError, KeyError):
                continue  # one malformed key does not spoil the others
        if not keys:
            raise _JWKSError("no usable signing keys")
        return KeySet(keys)


class _JWKSError(Exception):
    """A JWKS answer we cannot use; the message is a fixed, secret-free reason."""


def _depth(value: object) -> int:
    """How deeply ``value``'s JSON containers nest, walked without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > _MAX_CLAIMS_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest
