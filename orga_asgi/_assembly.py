"""An endpoint's parts, built from its :class:`~orga_asgi.EndpointConfig` at construction.

One function, :func:`assemble`, wires what :class:`~orga_asgi.OrgaClientSecrets` holds: the
observers, the rate-limit gate, the upstream exchange over its transport (the aiohttp pool,
a supplied httpx client, or the sandbox's fake), the minter, the route and, sealed, the
relay. Nothing here runs per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from ._mint import Minter
from ._observers import Observers
from ._principal import AuthorizeHook, as_async_hook
from ._ratelimit import RateLimitGate
from ._request import Route
from ._responses import Responses
from ._sandbox import SandboxUpstream
from ._sealed.relay import Relay, RelayRoute
from ._sealed.sealer import Sealer, make_sealer
from ._upstream import Exchange, UpstreamSlots, default_transport

if TYPE_CHECKING:
    from ._config import EndpointConfig
    from ._upstream.base import Transport
    from .keys import KeyProvider

__all__ = ["Parts", "assemble"]


@dataclass(frozen=True, slots=True)
class Parts:
    """What an endpoint is made of; see :func:`assemble`."""

    events: Observers
    gate: RateLimitGate
    exchange: Exchange
    keys: KeyProvider
    minter: Minter
    route: Route
    relay: Relay | None
    sandbox: SandboxUpstream | None


def assemble(config: EndpointConfig, close: Callable[[], Awaitable[None]]) -> Parts:
    """Build every part of an endpoint from ``config`` (already validated).

    Args:
        config: the endpoint's settings.
        close: the endpoint's ``aclose``, which the relay calls at its lifespan's end.
    """
    events = Observers(
        config.observers,
        audit_log=config.audit_log,
        audit_key=config.audit_key,
        on_audit=config.on_audit,
        audit_principal=config.audit_principal,
    )
    gate = RateLimitGate(
        rate_limits=config.rate_limits,
        ip_rate_limits=config.ip_rate_limits,
        storage_uri=config.storage_uri,
        strategy=config.strategy,
        on_storage_error=config.on_storage_error,
        max_in_flight_per_principal=config.max_in_flight_per_principal,
        ipv6_prefix_length=config.ipv6_prefix_length,
        on_store_state=events.store_state,
    )
    events.client_key = gate.client_key
    sandbox = SandboxUpstream(timeout=config.timeout) if config.sandbox else None
    # max_upstream_concurrency=None means no cap, which aiohttp spells as a pool limit of 0.
    transport: Transport = sandbox or default_transport(
        config.http_client, timeout=config.timeout, limit=config.max_upstream_concurrency or 0
    )
    exchange = Exchange(
        transport=transport,
        base_url=str(config.base_url),
        timeout=config.timeout,
        deadline=config.deadline,
        retries=config.retries,
        # Nobody reads the attempts themselves: only count them, for the audit event.
        on_attempt=events.upstream_attempt if events.wants_attempts else None,
        on_count=events.count_attempt,
    )
    keys = config.key_provider()
    slots = UpstreamSlots(
        config.max_upstream_concurrency,
        config.upstream_queue_timeout,
        on_wait=events.upstream_queued if events.wants_queue else None,
    )
    minter = Minter(
        gate=gate,
        slots=slots,  # shared with the relay: one per-process cap on upstream calls
        exchange=exchange,
        keys=keys,
        observers=events,
    )
    hook = cast("AuthorizeHook", config.authorize)  # never None: EndpointConfig checks
    sts = (b"strict-transport-security", config.hsts.encode("latin-1")) if config.hsts else None
    responses = Responses(
        extra=config.extra_headers,
        vary=config.origins.vary_header,
        hsts=sts,
        challenge=getattr(hook, "www_authenticate", None),
    )
    route = Route(
        config,
        proxies=config.proxies,
        origins=config.origins,
        authorize=as_async_hook(hook),
        gate=gate,
        minter=minter,
        observers=events,
        responses=responses,
        sealer=_sealer_for(config, gate, events),
    )
    relay = None
    if route.sealer is not None:
        limits = RelayRoute(route.sealer, exchange, slots, config.relay_max_body_size)
        relay = Relay(route, limits, close)
    return Parts(events, gate, exchange, keys, minter, route, relay, sandbox)


def _sealer_for(config: EndpointConfig, gate: RateLimitGate, events: Observers) -> Sealer | None:
    if not config.sealed:
        return None
    return make_sealer(
        config.session_policy,
        shared=gate.shared,
        key_prefix=gate.key_prefix,
        on_expired=events.handles_expired,
    )
