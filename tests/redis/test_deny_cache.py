"""The deny cache: a key already over its limit is refused without a Redis round trip.

Round trips are counted with Redis ``MONITOR`` on the private server (commands that scripts
run inside Redis are not round trips and are left out).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import redis.asyncio

from orga_asgi import OrgaClientSecrets, Principal
from orga_asgi._ratelimit import RateLimitExceeded, RateLimitGate
from orga_asgi._ratelimit.deny import DenyCache
from orga_asgi.auth import bearer
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, sandbox_client
from tests._support import caller

pytestmark = [pytest.mark.redis, pytest.mark.anyio]

STRATEGIES = ["moving-window", "sliding-window-counter"]
HEADER = re.compile(rb'^"(?P<name>[^"]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')


def make_gate(url: str, prefix: str, **options: Any) -> RateLimitGate:
    options.setdefault("ip_rate_limits", None)
    return RateLimitGate(storage_uri=url, key_prefix=prefix, **options)


async def refusal(check: Any) -> RateLimitExceeded:
    with pytest.raises(RateLimitExceeded) as caught:
        await check
    return caught.value


def wait(refused: RateLimitExceeded) -> int:
    """The refusal's Retry-After, in seconds."""
    assert refused.retry_after is not None
    return refused.retry_after


def ratelimit(refused: RateLimitExceeded) -> tuple[str, int, int]:
    """(window name, r, t) of the ``RateLimit`` header of a refusal."""
    values = dict(refused.headers)
    match = HEADER.match(values[b"ratelimit"])
    assert match is not None, values
    return match["name"].decode(), int(match["r"]), int(match["t"])


def evalshas(commands: list[str]) -> int:
    return sum('"evalsha"' in line.lower() or '"eval"' in line.lower() for line in commands)


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_a_429_flood_costs_one_round_trip(
    redis_url: str, key_prefix: str, strategy: str, redis_monitor: Callable[[], Any]
) -> None:
    g = make_gate(redis_url, key_prefix, strategy=strategy, rate_limits=("3/minute",))
    try:
        for _ in range(3):
            await g.check_principal("alice")
        monitor = redis_monitor()
        first = await refusal(g.check_principal("alice"))  # the store says no: one trip
        flood = [await refusal(g.check_principal("alice")) for _ in range(500)]
        commands = monitor.stop()
    finally:
        await g.aclose()
    assert evalshas(commands) == len(commands) == 1, commands
    # Every cached refusal says what the store's did: the window, no hits left, the wait.
    name, r, t = ratelimit(first)
    assert (name, r) == ("3-per-minute", 0)
    assert 1 <= wait(first) == t <= 60
    for refused in flood:
        assert ratelimit(refused) == (name, 0, wait(refused))
        assert 1 <= wait(refused) <= wait(first)
        assert dict(refused.headers)[b"ratelimit-policy"] == b'"3-per-minute";q=3;w=60'


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_one_round_trip_per_process_per_reset(
    redis_url: str, key_prefix: str, strategy: str, redis_monitor: Callable[[], Any]
) -> None:
    # Two gates are two processes sharing the windows: each asks the store once.
    one, two = (
        make_gate(redis_url, key_prefix, strategy=strategy, rate_limits=("2/3 seconds",))
        for _ in range(2)
    )
    try:
        await one.check_principal("bob")
        await two.check_principal("bob")
        monitor = redis_monitor()
        for _ in range(50):
            for g in (one, two):
                await refusal(g.check_principal("bob"))
        commands = monitor.stop()
        assert evalshas(commands) == len(commands) == 2, commands

        # Once the deadline has passed, the store is asked again, and counts again.
        refused = await refusal(one.check_principal("bob"))
        await anyio.sleep(wait(refused) + 0.2)
        await one.check_principal("bob")
    finally:
        await one.aclose()
        await two.aclose()


async def test_the_deadline_is_when_the_oldest_hit_leaves_the_window(
    redis_url: str, key_prefix: str
) -> None:
    g = make_gate(redis_url, key_prefix, rate_limits=("2/3 seconds",))
    try:
        # Connected first (the PING, the script loaded): carol's hit is counted right away.
        await g.check_principal("warm-up")
        first = time.monotonic()
        await g.check_principal("carol")
        await anyio.sleep(1.0)
        await g.check_principal("carol")
        refused = await refusal(g.check_principal("carol"))
        # The first hit leaves the window 3 s after it was counted.
        deadline = first + 3.0
        assert abs(wait(refused) - (deadline - time.monotonic())) < 1.1
        while time.monotonic() < deadline - 0.4:
            await refusal(g.check_principal("carol"))  # from the cache, until then
            await anyio.sleep(0.05)
        await anyio.sleep(max(0.0, deadline + 0.15 - time.monotonic()))
        assert await g.check_principal("carol") is not None  # one unit freed: it passes
        await refusal(g.check_principal("carol"))  # and the second hit still holds one
    finally:
        await g.aclose()


async def test_a_long_window_refusal_spends_nothing_more(redis_url: str, key_prefix: str) -> None:
    g = make_gate(redis_url, key_prefix, rate_limits=("5/minute", "2/hour"))
    try:
        await g.check_principal("dave")
        await g.check_principal("dave")
        refusals = [await refusal(g.check_principal("dave")) for _ in range(20)]
        async with redis.asyncio.Redis.from_url(redis_url) as client:
            minute = await client.llen(f"{key_prefix}:LIMITER/p/dave/5/1/minute")  # type: ignore[misc]
    finally:
        await g.aclose()
    assert {ratelimit(r)[0] for r in refusals} == {"2-per-hour"}
    assert all(wait(r) > 3000 for r in refusals)
    # Only the first refusal reached the store, and only it counted in the minute.
    assert minute == 3


async def test_reset_forgets_the_refusals(redis_url: str, key_prefix: str) -> None:
    g = make_gate(redis_url, key_prefix, rate_limits=("1/hour",), ip_rate_limits=("1/hour",))
    try:
        await g.check_ip("192.0.2.1")
        await g.check_principal("erin")
        await refusal(g.check_ip("192.0.2.1"))
        await refusal(g.check_principal("erin"))
        await g.reset()
        await g.check_ip("192.0.2.1")
        await g.check_principal("erin")
    finally:
        await g.aclose()


async def test_the_fallback_refusals_are_not_cached(private_redis: Any, key_prefix: str) -> None:
    g = make_gate(
        private_redis.url, key_prefix, rate_limits=("1/minute",), _reprobe_backoff=(0.05, 0.1)
    )
    try:
        await g.check_principal("frank")
        private_redis.stop()
        await g.check_principal("frank")  # the per-process window: its own count
        await refusal(g.check_principal("frank"))
        private_redis.start()  # empty: no persistence
        await anyio.sleep(0.2)
        assert await g.check_principal("frank") is not None  # Redis asked, and it has room
    finally:
        await g.aclose()


async def test_a_refusal_flood_through_the_endpoint(
    redis_url: str, key_prefix: str, redis_monitor: Callable[[], Any]
) -> None:
    endpoint = OrgaClientSecrets(
        authorize=bearer(lambda token: Principal(id=token)),
        api_key=FAKE_API_KEY,
        base_url=FAKE_BASE_URL,
        http_client=sandbox_client(),
        storage_uri=redis_url,
        rate_limits=("1/hour",),
        ip_rate_limits=("1000/minute",),
    )
    headers = {"Authorization": "Bearer grace"}
    try:
        async with caller(endpoint) as client:
            assert (await client.get("/", headers=headers)).status_code == 200
            monitor = redis_monitor()
            answers = [await client.get("/", headers=headers) for _ in range(100)]
            commands = monitor.stop()
    finally:
        await endpoint.reset_limits()
        await endpoint.aclose()
    assert {a.status_code for a in answers} == {429}
    # Per request: the address window (it has room: one trip each); the principal's refusal
    # reached the store once.
    assert evalshas(commands) == len(commands) == 100 + 1, commands
    last = answers[-1]
    assert 3000 < int(last.headers["retry-after"]) <= 3600
    assert last.headers["ratelimit"] == f'"1-per-hour";r=0;t={last.headers["retry-after"]}'


def test_the_cache_is_bounded_and_drops_expired_keys() -> None:
    now = [0.0]
    cache = DenyCache(lambda: now[0], cap=100)
    for n in range(100):
        cache.add(f"k{n}", 10.0 if n % 2 else 1.0, 0)
    assert len(cache) == 100
    now[0] = 5.0  # the even keys have expired
    cache.add("new", 20.0, 1)
    assert len(cache) == 51
    assert cache.refused("k0") is None
    assert cache.refused("k1") == (5.0, 0)
    for n in range(1000):  # none expired: the oldest half goes each time it is full
        cache.add(f"m{n}", 30.0, 0)
        assert len(cache) <= 100
    assert cache.refused("m999") == (25.0, 0)
    assert cache.refused("k1") is None  # among the oldest, dropped: one round trip then
    now[0] = 31.0
    assert cache.refused("m999") is None
    cache.clear()
    assert len(cache) == 0
