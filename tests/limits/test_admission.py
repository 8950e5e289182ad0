"""``admit()``: the in-flight slot first, then the windows; ``reset()``; ``on_store_state``.

The design gap of the hardening issue: a ``too_many_in_flight`` refusal must not spend the
caller's rate-limit window. 0.1.0 checked the windows first, then the cap.
"""

from __future__ import annotations

import anyio
import pytest

from orga_asgi._errors import ConfigurationError, TooManyInFlight
from orga_asgi._ratelimit import LimitHeaders, RateLimitExceeded, RateLimitGate

pytestmark = pytest.mark.anyio


def gate(**options: object) -> RateLimitGate:
    options.setdefault("rate_limits", ("3/minute",))
    options.setdefault("ip_rate_limits", None)
    options.setdefault("max_in_flight_per_principal", 1)
    return RateLimitGate(**options)  # type: ignore[arg-type]


def remaining(headers: LimitHeaders | None) -> bytes:
    assert headers is not None
    return headers[1][1].split(b";")[1]


async def test_an_in_flight_refusal_spends_no_window() -> None:
    g = gate()
    async with g.admit("alice") as headers:
        assert remaining(headers) == b"r=2"
        for _ in range(10):
            with pytest.raises(TooManyInFlight):
                async with g.admit("alice"):
                    pass
    # The ten refusals left the window alone: two hits are still there.
    async with g.admit("alice") as headers:
        assert remaining(headers) == b"r=1"
    async with g.admit("alice") as headers:
        assert remaining(headers) == b"r=0"
    with pytest.raises(RateLimitExceeded):
        async with g.admit("alice"):
            pass


async def test_a_window_refusal_gives_the_slot_back() -> None:
    g = gate(rate_limits=("1/minute",))
    async with g.admit("alice"):
        pass
    for _ in range(3):
        with pytest.raises(RateLimitExceeded):
            async with g.admit("alice"):
                pass
    assert g._in_flight == {}


async def test_the_slot_is_released_when_the_body_fails_or_is_cancelled() -> None:
    g = gate(rate_limits=None)
    with pytest.raises(ZeroDivisionError):
        async with g.admit("alice"):
            1 / 0  # noqa: B018
    assert g._in_flight == {}
    with anyio.move_on_after(0.01):
        async with g.admit("alice"):
            await anyio.sleep(10)
    assert g._in_flight == {}
    async with g.admit("alice") as headers:
        assert headers is None  # no per-principal windows: no headers
        assert g._in_flight == {"alice": 1}


async def test_old_three_call_sequence_still_works() -> None:
    g = gate(rate_limits=("1/minute",))
    await g.check_principal("bob")
    g.acquire_in_flight("bob")
    with pytest.raises(TooManyInFlight):
        g.acquire_in_flight("bob")
    g.release_in_flight("bob")
    assert g._in_flight == {}


async def test_reset_forgets_every_count_and_needs_no_await_in_memory() -> None:
    g = gate(rate_limits=("1/minute",), ip_rate_limits=("1/minute",), strategy="moving-window")
    await g.check_ip("203.0.113.7")
    async with g.admit("alice"):
        pass
    result = g.reset()  # not awaited: enough with memory://, and no "never awaited" warning
    await g.check_ip("203.0.113.7")
    async with g.admit("alice"):
        pass
    await result  # awaiting it is harmless too
    await g.reset()
    await g.check_ip("203.0.113.7")


async def test_reset_leaves_requests_in_flight_counted() -> None:
    g = gate(rate_limits=None)
    async with g.admit("alice"):
        await g.reset()
        with pytest.raises(TooManyInFlight):
            async with g.admit("alice"):
                pass
    assert g._in_flight == {}


@pytest.mark.parametrize("strategy", ["moving-window", "sliding-window-counter"])
async def test_reset_returns_the_memory_to_empty(strategy: str) -> None:
    g = gate(rate_limits=("5/minute",), ip_rate_limits=("5/minute",), strategy=strategy)
    for n in range(1000):
        await g.check_ip(f"10.0.{n >> 8}.{n & 255}")
        await g.check_principal(f"user{n}")
    g.reset()
    assert len(g._ip.memory[0]) == len(g._principal.memory[0]) == 0  # type: ignore[union-attr]


async def _async_hook(up: bool) -> None:  # pragma: no cover - never called
    pass


class _AsyncCallable:
    async def __call__(self, up: bool) -> None:  # pragma: no cover - never called
        pass


@pytest.mark.parametrize("hook", [_async_hook, _AsyncCallable(), "print", 1])
def test_on_store_state_must_be_a_plain_function(hook: object) -> None:
    with pytest.raises(ConfigurationError, match="on_store_state must be"):
        gate(on_store_state=hook)


def test_on_store_state_is_never_called_without_a_shared_store() -> None:
    seen: list[bool] = []
    g = gate(on_store_state=seen.append)

    async def use() -> None:
        async with g.admit("alice"):
            pass

    anyio.run(use)
    assert seen == []
