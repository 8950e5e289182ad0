"""No secret rides an exception's chain: what the kit raises carries no foreign exception.

``raise ... from None`` only hides the exception being handled from tracebacks; it stays
attached as ``__context__``, where error trackers, debuggers and ``repr()`` still find it.
aiohttp's and httpx's exceptions hold the request, ``Authorization: Bearer sk_orga_ai_...``
included, and a key provider's exception may quote the key. So the kit raises its own errors
outside the handlers: their ``__context__`` and ``__cause__`` are empty or the kit's own.
"""

from __future__ import annotations

import httpx
import pytest

from orga_asgi import ApiKeyUnavailable, OrgaClientSecrets, OrgaError, allow_anonymous
from orga_asgi.testing import FAKE_API_KEY
from tests.security.test_upstream_hardening import TRANSPORTS, endpoint_on, raw_server

pytestmark = pytest.mark.anyio

# Content-Length and Transfer-Encoding both: the client library refuses the reply.
SMUGGLED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n{}"
)


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception linked to it, by cause, context or group."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        item = todo.pop()
        if any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [e for e in (item.__cause__, item.__context__) if e is not None]
        todo += list(getattr(item, "exceptions", ()))
    return seen


def assert_clean(exc: BaseException, secret: str) -> None:
    for item in chain(exc):
        assert type(item).__module__.split(".")[0] in {"orga_asgi", "builtins"}, type(item)
        assert secret not in repr(item) and secret not in str(item)
        assert all(secret not in repr(arg) for arg in item.args)


@pytest.mark.servers
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_refused_reply_raises_nothing_that_holds_the_request(transport: str) -> None:
    async with raw_server(SMUGGLED) as raw, endpoint_on(raw.base_url, transport) as endpoint:
        with pytest.raises(OrgaError) as caught:
            await endpoint.issue()
    assert_clean(caught.value, FAKE_API_KEY)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_refused_connection_raises_nothing_that_holds_the_request(transport: str) -> None:
    async with raw_server(b"") as raw:
        base_url = raw.base_url  # closed once the block ends: connections are refused
    async with endpoint_on(base_url, transport) as endpoint:
        with pytest.raises(OrgaError) as caught:
            await endpoint.issue()
    assert_clean(caught.value, FAKE_API_KEY)


async def test_a_transport_breaking_its_contract_leaves_nothing_attached() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        # Not an httpx error: the kit's last-resort handler, with the key in the message.
        raise LookupError(request.headers["authorization"])

    client = httpx.AsyncClient(transport=httpx.MockTransport(broken))
    endpoint = OrgaClientSecrets(
        authorize=allow_anonymous,
        api_key=FAKE_API_KEY,
        base_url="http://127.0.0.1:9",
        http_client=client,
    )
    with pytest.raises(OrgaError) as caught:
        await endpoint.issue()
    await endpoint.aclose()
    await client.aclose()
    assert_clean(caught.value, FAKE_API_KEY)


async def test_a_failing_key_provider_is_not_attached_to_the_503() -> None:
    async def provider(principal: object) -> str:
        raise RuntimeError(f"the vault refused to hand out {FAKE_API_KEY}")

    endpoint = OrgaClientSecrets(
        authorize=allow_anonymous, api_key=provider, base_url="http://127.0.0.1:9"
    )
    with pytest.raises(ApiKeyUnavailable) as caught:
        await endpoint.issue()
    await endpoint.aclose()
    assert_clean(caught.value, FAKE_API_KEY)
