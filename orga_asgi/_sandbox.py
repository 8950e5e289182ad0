"""The sandbox, ``sandbox=True`` / ``ORGA_SANDBOX=1``: the endpoint against a fake Orga.

- :func:`apply` (run by validation) turns the setting on from the environment, refuses
  settings that would mix the sandbox with the real upstream, and fills in the fake's key
  and origin;
- :class:`SandboxUpstream` is the endpoint's transport then: it creates a
  :class:`~orga_asgi.testing.FakeOrga` and an in-process client on first use (mounted
  sub-apps never see a lifespan, so nothing may wait for one) and closes the client with
  the endpoint; the next request opens a new one, so an app survives many test sessions;
- :func:`is_test_client` recognises Starlette's ``TestClient``, let through over plain http.

The fake is imported only when the sandbox is on: production imports stay as they were.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ._errors import ConfigurationError
from ._keys.env import first_set
from ._log import get_logger
from ._principal import Secret

if TYPE_CHECKING:
    import httpx

    from ._config import EndpointConfig
    from ._types import Scope
    from ._upstream.base import UpstreamReply
    from .testing import FakeOrga

__all__ = ["SandboxUpstream", "apply", "is_test_client", "warn"]

logger = get_logger("orga_asgi.sandbox")
_ENV = "ORGA_SANDBOX"
_CONFLICT = (
    "The sandbox (sandbox=True / ORGA_SANDBOX=1) runs against an in-process fake Orga with "
    "its own key, but {what}. To try the sandbox, remove {remove}; to talk to Orga, turn "
    "the sandbox off (never run it in production: its tokens are fake)."
)


def _enabled(value: object, environ: Mapping[str, str]) -> bool:
    if value is None:  # not given in code: the environment decides, off when unset
        text = environ.get(_ENV, "").strip().lower()
        if text in ("", "none", "0", "false"):
            return False
        if text in ("1", "true"):
            return True
        raise ConfigurationError(f"{_ENV} must be 1, 0, true or false.")
    if not isinstance(value, bool):
        raise ConfigurationError(f"sandbox must be True or False, not {value!r}.")
    return value


def apply(
    c: EndpointConfig,
    set_: Callable[[EndpointConfig, str, object], None],
    environ: Mapping[str, str] = os.environ,
) -> bool:
    """Normalise ``c.sandbox`` to a bool; when on, check and set the upstream settings.

    Conflicts are judged where the sandbox was asked for: ``sandbox=True`` in code is
    refused with a key given in code (the key variables are then not read),
    ``ORGA_SANDBOX=1`` with a key in ``ORGA_API_KEY`` or ``ORGAAI_API_KEY`` too. The fake's
    own key (:data:`~orga_asgi.testing.FAKE_API_KEY`) is never a conflict.

    Raises:
        ConfigurationError: the sandbox next to a real key, a key provider, another
            ``base_url`` or an ``http_client``; the message never shows a key.
    """
    from_env = c.sandbox is None
    on = _enabled(c.sandbox, environ)
    set_(c, "sandbox", on)
    if not on:
        return False
    from .testing import FAKE_API_KEY, FAKE_BASE_URL

    key = c.api_key
    if key is None and from_env:
        found = first_set(environ)  # the variables an endpoint would read its key from
        key = found[1] if found is not None else None
    if isinstance(key, Secret):
        key = key.reveal()
    if key is not None and key != FAKE_API_KEY:
        raise ConfigurationError(
            _CONFLICT.format(
                what="an API key is set too (api_key=..., ORGA_API_KEY or ORGAAI_API_KEY: a "
                "real key or a key provider)",
                remove="the key",
            )
        )
    if c.base_url is not None and str(c.base_url).rstrip("/") != FAKE_BASE_URL:
        raise ConfigurationError(
            _CONFLICT.format(what="base_url=... points elsewhere", remove="base_url")
        )
    if c.http_client is not None:
        raise ConfigurationError(
            _CONFLICT.format(
                what="http_client=... is given too (to run against a FakeOrga of your own, "
                "pass orga_asgi.testing.sandbox_client(fake) with api_key=FAKE_API_KEY and "
                "base_url=FAKE_BASE_URL instead of the sandbox)",
                remove="http_client",
            )
        )
    set_(c, "api_key", Secret(FAKE_API_KEY))
    set_(c, "base_url", FAKE_BASE_URL)
    set_(c, "allow_insecure_loopback", True)  # `orga-asgi dev` and curl from this machine
    return True


def warn() -> None:
    """The one WARNING of a sandbox endpoint, logged when it is built."""
    logger.warning(
        "SANDBOX: this endpoint mints fake tokens from an in-process fake Orga and accepts "
        "plain http from this machine; never run it in production (turn off sandbox=True / "
        "ORGA_SANDBOX to talk to Orga)"
    )


def is_test_client(scope: Scope) -> bool:
    """Whether the request comes from Starlette's (or FastAPI's) ``TestClient``.

    Its peer is the name ``"testclient"``, which no server puts in ``scope["client"]`` (they
    put the peer's IP there), and its base URL is ``http://testserver``: in the sandbox that
    is let through as plain HTTP from loopback is, since there is no network to protect.
    """
    client = scope.get("client")
    if not client or client[0] != "testclient":
        return False
    # A server that applies forwarding headers (uvicorn --forwarded-allow-ips='*') copies
    # a caller's `X-Forwarded-For: testclient` there: a forwarded request is never one.
    return not any(name in _FORWARDING or name.startswith(b"x-forwarded-")
                   for name, _ in scope["headers"])  # fmt: skip


_FORWARDING = frozenset({b"forwarded", b"x-real-ip"})


class SandboxUpstream:
    """The transport of a sandbox endpoint: a :class:`~orga_asgi.testing.FakeOrga`, reached
    in-process through an ``httpx.AsyncClient`` that this object owns.

    Args:
        timeout: the default timeout of one call, in seconds.
    """

    def __init__(self, *, timeout: float) -> None:
        self._timeout = timeout
        self._fake: FakeOrga | None = None
        self._client: httpx.AsyncClient | None = None

    @property
    def fake(self) -> FakeOrga:
        """The fake upstream, created on first use and kept for the endpoint's life (its
        recorded calls and queued faults outlive a closed client)."""
        if self._fake is None:
            from .testing import FakeOrga

            self._fake = FakeOrga()
        return self._fake

    @property
    def client(self) -> httpx.AsyncClient | None:
        """The in-process client while one is open, else ``None``."""
        return self._client

    async def request(
        self,
        method: str,
        url: str,
        authorization: str,
        timeout: float,
        body: bytes | None = None,
    ) -> UpstreamReply:
        """Send one request to the fake; see :class:`~orga_asgi._upstream.base.Transport`."""
        from ._upstream import HttpxTransport

        if self._client is None or self._client.is_closed:
            from .testing import sandbox_client

            self._client = sandbox_client(self.fake)
        # A thin wrapper per call: the httpx transport's reading and error mapping, as for
        # a supplied client; the client itself is ours and closed in aclose().
        wrapped = HttpxTransport(self._client, timeout=self._timeout)
        return await wrapped.request(method, url, authorization, timeout, body)

    async def aclose(self) -> None:
        """Close the in-process client; the next request opens a new one."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
