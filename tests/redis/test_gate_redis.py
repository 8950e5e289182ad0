"""RateLimitGate on a real Redis: one shared limit, one round trip per window, failures."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import redis.asyncio
from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from orga_asgi._errors import RateLimiterUnavailable
from orga_asgi._ratelimit import LimitHeaders, RateLimitExceeded, RateLimitGate

pytestmark = [pytest.mark.redis, pytest.mark.anyio]

STRATEGIES = ["moving-window", "sliding-window-counter"]
FAST_PROBES = (0.05, 0.2)


def make_gate(url: str, prefix: str, **options: Any) -> RateLimitGate:
    options.setdefault("rate_limits", ("5/minute",))
    options.setdefault("ip_rate_limits", None)
    options.setdefault("_reprobe_backoff", FAST_PROBES)
    return RateLimitGate(storage_uri=url, key_prefix=prefix, **options)


def remaining(headers: LimitHeaders | None) -> int:
    assert headers is not None
    match = re.search(rb";r=(\d+);t=(\d+)$", headers[1][1])
    assert match is not None
    return int(match[1])


async def outcome(check: Any) -> str:
    """'ok', 'limited' or 'unavailable'; any other exception fails the test."""
    try:
        await check
    except RateLimitExceeded as refused:
        kind, retry_after = "limited", refused.retry_after
    except RateLimiterUnavailable as unavailable:
        kind, retry_after = "unavailable", unavailable.retry_after
    else:
        return "ok"
    assert retry_after is not None
    assert retry_after >= 1
    return kind


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_two_gates_enforce_one_limit(redis_url: str, key_prefix: str, strategy: str) -> None:
    first = make_gate(redis_url, key_prefix, strategy=strategy)
    second = make_gate(redis_url, key_prefix, strategy=strategy)
    try:
        results = [
            await outcome((first if n % 2 else second).check_principal("alice")) for n in range(12)
        ]
    finally:
        await first.aclose()
        await second.aclose()
    assert results == ["ok"] * 5 + ["limited"] * 7


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_one_round_trip_per_window_checked(
    redis_url: str, key_prefix: str, strategy: str, redis_monitor: Callable[[], Any]
) -> None:
    g = make_gate(
        redis_url,
        key_prefix,
        strategy=strategy,
        rate_limits=("5/minute", "100/hour"),
        ip_rate_limits=("50/minute",),
    )
    try:
        await g.check_ip("10.0.0.1")  # warm up: connection handshake, script load
        for _ in range(5):
            await g.check_principal("bob")  # bob's minute is now exhausted

        monitor = redis_monitor()
        for _ in range(3):
            await g.check_ip("10.0.0.1")  # 1 window
            await g.check_principal("alice")  # 2 windows, both pass
        for _ in range(4):
            with pytest.raises(RateLimitExceeded):
                await g.check_principal("bob")  # refused by the minute: the hour is not read
        commands = monitor.stop()
    finally:
        await g.aclose()
    # bob: the first refusal asks the store, the next three are the deny cache's.
    assert len(commands) == 3 * (1 + 2) + 1, commands
    assert all('"evalsha"' in line.lower() for line in commands), commands


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_limits_reads_the_same_windows(
    redis_url: str, key_prefix: str, strategy: str
) -> None:
    g = make_gate(redis_url, key_prefix, strategy=strategy)
    storage = storage_from_string(
        "async+" + redis_url, implementation="redispy", key_prefix=key_prefix
    )
    assert isinstance(storage, RedisStorage)
    limiter = (
        MovingWindowRateLimiter(storage)
        if strategy == "moving-window"
        else SlidingWindowCounterRateLimiter(storage)
    )
    item = parse("5/minute")
    try:
        await g.check_principal("alice")
        headers = await g.check_principal("alice")
        stats = await limiter.get_window_stats(item, "p", "alice")
        assert stats.remaining == remaining(headers) == 3
        assert await limiter.hit(item, "p", "alice")  # limits' own hit counts in our window
        assert remaining(await g.check_principal("alice")) == 1
    finally:
        await g.aclose()
        await storage.bridge.get_connection().aclose()  # type: ignore[attr-defined]


async def test_keys_are_namespaced_and_safe(redis_url: str, key_prefix: str) -> None:
    g = make_gate(redis_url, key_prefix, rate_limits=("5/minute",), ip_rate_limits=("5/minute",))
    odd = ["a/b{c}", "x" * 500, "ünï cødé", "10.0.0.1"]
    try:
        await g.check_ip("10.0.0.1")
        await g.check_ip("2001:db8::1")
        for principal in odd:
            await g.check_principal(principal)
    finally:
        await g.aclose()
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        keys = sorted([key.decode() async for key in client.scan_iter(f"{key_prefix}:*")])
    safe = re.compile(rf"{key_prefix}:LIMITER/(ip|p)/[A-Za-z0-9._:@+=/~-]{{1,64}}/5/1/minute")
    assert all(safe.fullmatch(key) for key in keys), keys
    assert len(keys) == 2 + len(odd)
    assert f"{key_prefix}:LIMITER/ip/10.0.0.1/5/1/minute" in keys
    assert f"{key_prefix}:LIMITER/ip/2001:db8:0:0::/64/5/1/minute" in keys  # keyed on its /64
    assert f"{key_prefix}:LIMITER/p/10.0.0.1/5/1/minute" in keys


async def test_aclose_is_idempotent_and_the_gate_reopens(redis_url: str, key_prefix: str) -> None:
    g = make_gate(redis_url, key_prefix)
    await g.check_principal("alice")
    await g.aclose()
    await g.aclose()
    assert remaining(await g.check_principal("alice")) == 3
    await g.aclose()


async def test_fallback_limits_in_memory_then_switches_back(
    private_redis: Any, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="orga_asgi.limits")
    g = make_gate(private_redis.url, key_prefix, rate_limits=("3/minute",))
    try:
        await g.check_principal("alice")
        private_redis.stop()
        # Limiting goes on, per process: a fresh memory window of 3.
        results = [await outcome(g.check_principal("alice")) for _ in range(5)]
        assert results == ["ok"] * 3 + ["limited"] * 2
        warnings = [
            r
            for r in caplog.records
            if r.levelno == logging.WARNING and r.name.startswith("orga_asgi")
        ]
        assert len(warnings) == 1
        assert "limiting per process in memory" in warnings[0].getMessage()

        private_redis.start()  # empty: no persistence
        await anyio.sleep(FAST_PROBES[1] + 0.05)
        headers = await g.check_principal("alice")
        assert remaining(headers) == 2  # counted in Redis again, not in memory
        async with redis.asyncio.Redis.from_url(private_redis.url) as client:
            assert await client.exists(f"{key_prefix}:LIMITER/p/alice/3/1/minute")
        assert [r.levelno for r in caplog.records if r.name.startswith("orga_asgi")].count(
            logging.WARNING
        ) == 1
        assert any("answers again" in r.getMessage() for r in caplog.records)
    finally:
        await g.aclose()


async def test_deny_answers_503_until_redis_returns(private_redis: Any, key_prefix: str) -> None:
    g = make_gate(private_redis.url, key_prefix, on_storage_error="deny")
    try:
        assert await outcome(g.check_principal("alice")) == "ok"
        private_redis.stop()
        assert [await outcome(g.check_principal("alice")) for _ in range(3)] == ["unavailable"] * 3
        private_redis.start()
        await anyio.sleep(FAST_PROBES[1] + 0.05)
        assert await outcome(g.check_principal("alice")) == "ok"
    finally:
        await g.aclose()


async def test_allow_lets_requests_through_while_redis_is_down(
    private_redis: Any, key_prefix: str
) -> None:
    g = make_gate(
        private_redis.url, key_prefix, on_storage_error="allow", rate_limits=("1/minute",)
    )
    try:
        await g.check_principal("alice")
        private_redis.stop()
        for _ in range(5):
            assert await g.check_principal("alice") is None  # not enforced, no headers
        private_redis.start()
        await anyio.sleep(FAST_PROBES[1] + 0.05)
        await g.check_principal("bob")  # the probe: Redis is back
        assert await outcome(g.check_principal("bob")) == "limited"
    finally:
        await g.aclose()


async def test_redis_down_before_first_use(private_redis: Any, key_prefix: str) -> None:
    g = make_gate(private_redis.url, key_prefix, rate_limits=("2/minute",))
    private_redis.stop()
    try:
        assert [await outcome(g.check_principal("a")) for _ in range(3)] == [
            "ok",
            "ok",
            "limited",
        ]
    finally:
        private_redis.start()
        await g.aclose()


async def test_a_hung_redis_costs_one_timeout_then_falls_back(
    private_redis: Any, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="orga_asgi.limits")
    url = private_redis.url + "?socket_timeout=0.3&socket_connect_timeout=0.3"
    g = make_gate(url, key_prefix, rate_limits=("3/minute",), _reprobe_backoff=(0.5, 1.0))
    try:
        await g.check_principal("alice")  # connected
        private_redis.pause()
        started = anyio.current_time()
        results = [await outcome(g.check_principal("alice")) for _ in range(4)]
        elapsed = anyio.current_time() - started
        assert results == ["ok"] * 3 + ["limited"]  # the memory fallback limits
        assert 0.3 <= elapsed < 0.9  # one timeout (no retry of it), then no more waiting
        assert [r.levelno for r in caplog.records if r.name.startswith("orga_asgi")].count(
            logging.WARNING
        ) == 1
        assert "TimeoutError" in caplog.records[-1].getMessage()
        private_redis.resume()
        await anyio.sleep(0.55)
        # Back on Redis: the first hit, the timed-out one (queued, run on resume: a timeout
        # does not prove a hit was not counted) and this one.
        assert remaining(await g.check_principal("alice")) == 0
        assert "answers again" in caplog.records[-1].getMessage()
    finally:
        private_redis.resume()
        await g.aclose()


@pytest.mark.parametrize("policy", ["fallback", "deny", "allow"])
async def test_stopping_redis_mid_flood_raises_only_typed_errors(
    private_redis: Any, key_prefix: str, policy: str
) -> None:
    g = make_gate(
        private_redis.url,
        key_prefix,
        on_storage_error=policy,
        rate_limits=("20/second", "1000/hour"),
        ip_rate_limits=("1000/minute",),
    )
    seen: list[str] = []

    async def caller(n: int) -> None:
        for _ in range(30):
            seen.append(await outcome(g.check_ip(f"10.0.0.{n}")))
            seen.append(await outcome(g.check_principal(f"user{n}")))
            await anyio.sleep(0.005)

    try:
        async with anyio.create_task_group() as group:
            for n in range(20):
                group.start_soon(caller, n)
            await anyio.sleep(0.05)
            await anyio.to_thread.run_sync(private_redis.stop)
            await anyio.sleep(0.1)
            await anyio.to_thread.run_sync(private_redis.start)
    finally:
        await g.aclose()
    assert len(seen) == 20 * 30 * 2
    assert set(seen) <= {"ok", "limited", "unavailable"}
    assert ("unavailable" in seen) == (policy == "deny")


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_under_trio_the_shared_store_falls_back(
    redis_url: str, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    g = make_gate(redis_url, key_prefix, rate_limits=("2/minute",))
    results = [await outcome(g.check_principal("a")) for _ in range(3)]
    await g.aclose()
    assert results == ["ok", "ok", "limited"]
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name.startswith("orga_asgi")
    ]
    assert len(warnings) == 1
    assert "asyncio" in warnings[0]


@pytest.mark.parametrize(
    "uri",
    [
        "redis+cluster://127.0.0.1:1,127.0.0.1:2",
        "redis+sentinel://127.0.0.1:1/mymaster",
        "rediss://:s3cret@127.0.0.1:1/0",
        "valkey://127.0.0.1:1/0",
    ],
)
async def test_every_scheme_builds_its_storage_and_fails_over(
    uri: str, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on ports 1 and 2: the storage is built, the first call fails, the
    # fallback limits in memory, and the password never reaches the log.
    g = make_gate(uri, key_prefix, rate_limits=("2/minute",))
    results = [await outcome(g.check_principal("a")) for _ in range(3)]
    await g.aclose()
    assert results == ["ok", "ok", "limited"]
    (warning,) = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name.startswith("orga_asgi")
    ]
    assert "s3cret" not in warning
