"""The gate on a real Redis: keys (prefixes, odd ids, anonymous), reset(), on_store_state.

Every test has its own key prefix, so tests never see each other's keys.
"""

from __future__ import annotations

import gc
import logging
from typing import Any

import anyio
import pytest
import redis.asyncio
from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from orga_asgi._errors import RateLimiterUnavailable, TooManyInFlight
from orga_asgi._ratelimit import RateLimitExceeded, RateLimitGate

pytestmark = [pytest.mark.redis, pytest.mark.anyio]

STRATEGIES = ["moving-window", "sliding-window-counter"]
FAST_PROBES = (0.05, 0.2)


def make_gate(url: str, prefix: str, **options: Any) -> RateLimitGate:
    options.setdefault("rate_limits", ("2/minute",))
    options.setdefault("ip_rate_limits", None)
    options.setdefault("_reprobe_backoff", FAST_PROBES)
    return RateLimitGate(storage_uri=url, key_prefix=prefix, **options)


async def keys(url: str, pattern: str) -> list[str]:
    async with redis.asyncio.Redis.from_url(url) as client:
        return sorted([key.decode() async for key in client.scan_iter(pattern)])


async def passes(check: Any) -> bool:
    try:
        await check
    except RateLimitExceeded:
        return False
    return True


ODD_IDS = [
    "alice/2/1/minute",  # looks like the end of alice's own key
    "LIMITER/ip/10.0.0.1",  # looks like an address key
    "alice}{x",  # braces pick cluster hash slots
    "a*b?[c]\\",  # glob characters (reset() scans with a pattern)
    "\r\nFLUSHALL\r\n",
    "x" * 10_000,
    "~" + "0" * 40,  # looks like a hashed id
]


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_odd_principal_ids_never_touch_another_window(
    redis_url: str, key_prefix: str, strategy: str
) -> None:
    g = make_gate(
        redis_url,
        key_prefix,
        strategy=strategy,
        rate_limits=("2/minute", "5/hour"),
        ip_rate_limits=("2/minute",),
    )
    try:
        for _ in range(2):
            await g.check_principal("alice")
            await g.check_ip("10.0.0.1")
        for odd in ODD_IDS:  # each has a quota of its own, untouched by alice's
            assert [await passes(g.check_principal(odd)) for _ in range(3)] == [True, True, False]
        assert not await passes(g.check_principal("alice"))
        assert not await passes(g.check_ip("10.0.0.1"))
    finally:
        await g.aclose()
    found = await keys(redis_url, f"*{key_prefix}*")
    assert all(len(key) < 150 for key in found)  # long ids were hashed
    assert "FLUSHALL" not in "".join(found)


async def test_anonymous_keys_are_readable_and_per_address(redis_url: str, key_prefix: str) -> None:
    g = make_gate(redis_url, key_prefix, rate_limits=("1/minute",), max_in_flight_per_principal=1)
    try:
        first = "anon:" + g.client_key("2001:db8:1:2::1")
        async with g.admit(first):
            with pytest.raises(TooManyInFlight):
                async with g.admit("anon:" + g.client_key("2001:db8:1:2::2")):
                    pass
        with pytest.raises(RateLimitExceeded):
            async with g.admit("anon:" + g.client_key("2001:db8:1:2::3")):
                pass
        async with g.admit("anon:" + g.client_key("2001:db8:1:3::1")):
            pass
    finally:
        await g.aclose()
    assert await keys(redis_url, f"{key_prefix}:*") == [
        f"{key_prefix}:LIMITER/p/anon:2001:db8:1:2::/64/1/1/minute",
        f"{key_prefix}:LIMITER/p/anon:2001:db8:1:3::/64/1/1/minute",
    ]


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_reset_deletes_this_gates_keys_only(
    redis_url: str, key_prefix: str, strategy: str
) -> None:
    options: dict[str, Any] = {"strategy": strategy, "ip_rate_limits": ("1/minute",)}
    g = make_gate(redis_url, key_prefix, rate_limits=("1/minute",), **options)
    twin = make_gate(redis_url, key_prefix, rate_limits=("1/minute",), **options)
    # A prefix that extends this one, and limits' own keys under this prefix.
    other = make_gate(redis_url, key_prefix + ":x", rate_limits=("1/minute",), **options)
    storage = storage_from_string(
        "async+" + redis_url, implementation="redispy", key_prefix=key_prefix
    )
    foreign = MovingWindowRateLimiter(storage)
    try:
        for gate in (g, other):
            await gate.check_ip("10.0.0.1")
            await gate.check_principal("alice")
            await gate.check_principal("a*b?[c]")
        assert await foreign.hit(parse("1/hour"), "mine", "x")
        assert not await passes(twin.check_principal("alice"))
        await g.reset()
        # Both gates of the prefix start over (the keys are shared), once the twin (another
        # process) has forgotten the refusal it remembers (its deny cache) too...
        assert not await passes(twin.check_principal("alice"))
        await twin.reset()
        assert await passes(twin.check_principal("alice"))
        assert await passes(g.check_ip("10.0.0.1"))
        assert await passes(g.check_principal("a*b?[c]"))
        # ...the longer prefix and limits' other windows are untouched.
        assert not await passes(other.check_principal("alice"))
        assert not await passes(other.check_ip("10.0.0.1"))
        assert not await foreign.hit(parse("1/hour"), "mine", "x")
    finally:
        for gate in (g, twin, other):
            await gate.aclose()
        await storage.bridge.get_connection().aclose()  # type: ignore[attr-defined]


async def test_reset_clears_the_fallback_too_and_reports_a_dead_store(
    private_redis: Any, key_prefix: str
) -> None:
    g = make_gate(private_redis.url, key_prefix, rate_limits=("1/minute",))
    try:
        private_redis.stop()
        await g.check_principal("alice")  # counted in the memory fallback
        assert not await passes(g.check_principal("alice"))
        with pytest.raises(RateLimiterUnavailable):
            await g.reset()
        assert await passes(g.check_principal("alice"))  # the fallback was cleared at once
    finally:
        private_redis.start()
        await g.aclose()


def drop(result: object) -> None:
    """Lose the last reference to ``result`` now (as a statement ignoring it would)."""
    del result
    gc.collect()


def test_reset_left_unawaited_with_redis_warns(redis_url: str, key_prefix: str) -> None:
    g = make_gate(redis_url, key_prefix)
    with pytest.warns(RuntimeWarning, match="never awaited"):
        drop(g.reset())


@pytest.mark.parametrize("policy", ["fallback", "deny", "allow"])
async def test_on_store_state_tells_down_then_up(
    private_redis: Any, key_prefix: str, policy: str
) -> None:
    seen: list[bool] = []
    g = make_gate(
        private_redis.url,
        key_prefix,
        on_storage_error=policy,
        on_store_state=seen.append,
        rate_limits=("100/minute",),
    )
    try:
        await g.check_principal("alice")
        assert seen == []
        private_redis.stop()
        for _ in range(3):
            try:
                await g.check_principal("alice")
            except RateLimiterUnavailable:
                assert policy == "deny"
        assert seen == [False]  # once, not per request
        private_redis.start()
        await anyio.sleep(FAST_PROBES[1] + 0.05)
        await g.check_principal("bob")
        await g.check_principal("bob")
        assert seen == [False, True]
    finally:
        await g.aclose()


async def test_a_failing_on_store_state_never_reaches_the_request(
    private_redis: Any, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(up: bool) -> None:
        raise RuntimeError(f"observer bug with a secret {private_redis.url}")

    g = make_gate(private_redis.url, key_prefix, on_store_state=broken)
    try:
        private_redis.stop()
        await g.check_principal("alice")  # the fallback answers; the hook's error is logged
        private_redis.start()
        await anyio.sleep(FAST_PROBES[1] + 0.05)
        await g.check_principal("alice")
    finally:
        await g.aclose()
    lines = [r.getMessage() for r in caplog.records if "on_store_state" in r.getMessage()]
    assert lines == [
        "on_store_state(False) raised RuntimeError; ignored",
        "on_store_state(True) raised RuntimeError; ignored",
    ]


async def test_store_warnings_carry_the_request_id(
    private_redis: Any, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Defect 10: a "%(request_id)s" format must not break on the gate's records.
    caplog.set_level(logging.INFO, logger="orga_asgi.limits")
    g = make_gate(private_redis.url, key_prefix)
    try:
        private_redis.stop()
        await g.check_principal("alice")
    finally:
        private_redis.start()
        await g.aclose()
    (record,) = [r for r in caplog.records if r.name == "orga_asgi.limits"]
    formatted = logging.Formatter("%(request_id)s %(levelname)s %(message)s").format(record)
    assert formatted.startswith("- WARNING Shared rate limit store")
