"""The per-process upstream cap holds exactly ``max_upstream_concurrency`` slots through
refusals, timeouts, cancellations and faults: none leaks, none is given back twice.

Checked by behaviour: with one slot, a mint held open upstream makes the next request wait
and get 503 ``busy``; once it ends, the next one mints. A leaked slot would make every later
request busy, a slot given back twice would let two through at once.
"""

from __future__ import annotations

import anyio
import httpx
import pytest

from orga_asgi import OrgaClientSecrets, Principal
from orga_asgi._upstream.slots import UpstreamSlots
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Gated(httpx.AsyncBaseTransport):
    """FakeOrga in-process; while ``gate`` is set, every upstream call waits for it (and
    sets ``entered`` first: a test waits for that, not for a sleep that a busy machine can
    outlast)."""

    def __init__(self) -> None:
        self.inner = httpx.ASGITransport(app=FakeOrga())
        self.gate: anyio.Event | None = None
        self.entered: anyio.Event | None = None
        self.broken = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.broken:
            raise RuntimeError("a transport bug")
        if self.gate is not None:
            if self.entered is not None:
                self.entered.set()
            await self.gate.wait()
        return await self.inner.handle_async_request(request)


async def user(request: object) -> Principal:
    return Principal(id="u1")


def endpoint(upstream: Gated) -> OrgaClientSecrets:
    return OrgaClientSecrets(
        authorize=user,
        api_key=FAKE_API_KEY,
        base_url=FAKE_BASE_URL,
        http_client=httpx.AsyncClient(transport=upstream, base_url=FAKE_BASE_URL),
        max_upstream_concurrency=1,
        upstream_queue_timeout=0.2,
        max_in_flight_per_principal=None,
        rate_limits=None,
        ip_rate_limits=None,
        retries=0,
    )


async def post(app: OrgaClientSecrets) -> tuple[int, str]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 1))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        response = await client.post("/")
    return response.status_code, response.json().get("error", "issued")


async def assert_exactly_one_slot(app: OrgaClientSecrets, upstream: Gated) -> None:
    upstream.gate, upstream.entered = anyio.Event(), anyio.Event()
    results: list[tuple[int, str]] = []

    async def hold() -> None:
        results.append(await post(app))

    async with anyio.create_task_group() as tg:
        tg.start_soon(hold)
        with anyio.fail_after(10):
            await upstream.entered.wait()  # the holder has the slot, waiting upstream
        assert await post(app) == (503, "busy")  # not a second slot
        upstream.gate.set()
    upstream.gate = None
    assert results == [(200, "issued")]
    assert await post(app) == (200, "issued")  # and the one slot is back


async def test_a_waiter_cancelled_in_the_queue_gives_nothing_back() -> None:
    upstream = Gated()
    app = endpoint(upstream)
    upstream.gate, upstream.entered = anyio.Event(), anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(post, app)
        with anyio.fail_after(10):
            await upstream.entered.wait()  # the first request holds the slot
        with anyio.move_on_after(0.05):
            await post(app)  # cancelled while it waits for the slot
        upstream.gate.set()
    upstream.gate = None
    await assert_exactly_one_slot(app, upstream)
    await app.aclose()


async def test_a_mint_cancelled_upstream_gives_its_slot_back_once() -> None:
    upstream = Gated()
    app = endpoint(upstream)
    upstream.gate = anyio.Event()
    with anyio.move_on_after(0.05):
        await post(app)  # cancelled while it holds the slot
    upstream.gate = None
    await assert_exactly_one_slot(app, upstream)
    await app.aclose()


async def test_busy_and_a_broken_transport_leave_exactly_one_slot() -> None:
    upstream = Gated()
    app = endpoint(upstream)
    await assert_exactly_one_slot(app, upstream)  # includes a 503 busy
    upstream.broken = True
    assert (await post(app))[0] == 502
    upstream.broken = False
    await assert_exactly_one_slot(app, upstream)
    await app.aclose()


async def test_a_slot_given_back_as_its_waiter_is_cancelled_is_not_lost() -> None:
    slots = UpstreamSlots(1, queue_timeout=5.0)
    assert slots.take() and not slots.take()
    scope = anyio.CancelScope()

    async def waiter() -> None:
        with scope:
            await slots.wait()
            slots.give()

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.sleep(0.01)
        slots.give()
        scope.cancel()  # in the same tick: the slot must not vanish with the waiter
    assert slots.take() and not slots.take()
