"""The key-provider seam: the key is resolved per mint, for the principal being served."""

from __future__ import annotations

import logging

import pytest

from orga_asgi import ConfigurationError, Principal, Secret, UpstreamAuthFailed
from orga_asgi.keys import KeyProvider, StaticKey, validate_key
from orga_asgi.testing import FAKE_API_KEY, FakeOrga
from tests._support import caller, make_endpoint

pytestmark = pytest.mark.anyio
OTHER_KEY = "sk_orga_ai_" + "another0tenant0key"


class PerTenant:
    """Tenant ``a`` has the sandbox's key; anyone else a key the sandbox refuses."""

    def __init__(self) -> None:
        self.asked: list[str | None] = []
        self.invalidated = 0

    async def resolve(self, principal: Principal | None) -> Secret:
        self.asked.append(principal.id if principal is not None else None)
        if principal is not None and principal.id == "a":
            return Secret(FAKE_API_KEY)
        return Secret(OTHER_KEY)

    def invalidate(self) -> None:
        self.invalidated += 1


def who(request):  # type: ignore[no-untyped-def]
    return Principal(id=request.headers["x-tenant"])


async def test_the_key_is_resolved_per_mint_for_the_principal() -> None:
    fake, keys = FakeOrga(), PerTenant()
    assert isinstance(keys, KeyProvider)
    endpoint = make_endpoint(fake, authorize=who, api_key=keys)
    async with caller(endpoint) as client:
        a = await client.get("/", headers={"x-tenant": "a"})
        b = await client.get("/", headers={"x-tenant": "b"})
    assert a.status_code == 200
    assert (b.status_code, b.json()["error"]) == (502, "upstream_auth_failed")
    assert keys.asked == ["a", "b", "b"]  # asked again after Orga refused b's key
    assert [c.authorization for c in fake.calls_to("client-secrets")] == [
        f"Bearer {FAKE_API_KEY}",
        f"Bearer {OTHER_KEY}",
    ]
    assert keys.invalidated == 1  # told that its key was refused
    with pytest.raises(UpstreamAuthFailed):
        await endpoint.issue()  # no principal: the provider is asked for None
    assert keys.asked[-1] is None
    await endpoint.aclose()


class Failing:
    def __init__(self, result: object) -> None:
        self.result = result

    async def resolve(self, principal: Principal | None) -> Secret:
        if isinstance(self.result, Exception):
            raise self.result
        return self.result  # type: ignore[return-value]

    def invalidate(self) -> None:
        pass


@pytest.mark.parametrize(
    "result",
    [
        RuntimeError(f"vault said no to {OTHER_KEY}"),
        Secret("not-a-key"),
        Secret(" " + FAKE_API_KEY),
        None,
    ],
)
async def test_a_failing_provider_is_a_503_and_one_error_line(
    result: object, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeOrga()
    endpoint = make_endpoint(fake, api_key=Failing(result))
    with caplog.at_level(logging.ERROR, logger="orga_asgi"):
        async with caller(endpoint) as client:
            response = await client.get("/")
    assert (response.status_code, response.json()["error"]) == (503, "api_key_unavailable")
    assert response.headers["cache-control"] == "no-store"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "key provider" in errors[0].getMessage()
    assert OTHER_KEY not in caplog.text and FAKE_API_KEY not in caplog.text
    assert fake.calls == []


def test_static_key_is_validated_and_never_shown() -> None:
    key = StaticKey(FAKE_API_KEY)
    assert key.key.reveal() == FAKE_API_KEY
    assert FAKE_API_KEY not in repr(key)
    with pytest.raises(ConfigurationError, match="does not look like one"):
        StaticKey("sk_live_123")


@pytest.mark.parametrize("api_key", [FAKE_API_KEY, Secret(FAKE_API_KEY), StaticKey(FAKE_API_KEY)])
async def test_api_key_takes_a_str_a_secret_or_a_provider(api_key: object) -> None:
    fake = FakeOrga()
    async with make_endpoint(fake, api_key=api_key) as endpoint:
        await endpoint.issue()
    assert fake.calls_to("client-secrets")[0].authorization == f"Bearer {FAKE_API_KEY}"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "No Orga API key"),
        (" \n", "No Orga API key"),
        (" " + FAKE_API_KEY, "leading or trailing white space"),
        ("sk_orga_ai_a b", "contains white space"),
        ("sk_live_x", "does not look like one"),
        (42, "must be a string"),
    ],
)
def test_validate_key_messages(value: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        validate_key(value, source="MY_KEY")
    if isinstance(value, str) and value.strip():
        assert value.strip() not in str(info.value)
