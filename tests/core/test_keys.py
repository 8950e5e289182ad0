"""The key-provider seam: the key is resolved per mint, for the principal being served."""

from __future__ import annotations

import logging
import os

import pytest

from orga_asgi import (
    ConfigurationError,
    EndpointConfig,
    OrgaClientSecrets,
    Principal,
    Secret,
    UpstreamAuthFailed,
    allow_anonymous,
)
from orga_asgi.keys import KeyProvider, StaticKey, fingerprint, from_env, validate_key
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


# --- The default source: ORGA_API_KEY, then ORGAAI_API_KEY, as keys.from_env() --------------

ENV_KEY = "sk_orga_ai_" + "from0the0environment"
VENDOR_KEY = "sk_orga_ai_" + "vendor0spelling0key"


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """``os.environ`` without the developer's own ORGA_* / ORGAAI_* variables."""
    for name in [n for n in os.environ if n.startswith(("ORGA_", "ORGAAI_"))]:
        monkeypatch.delenv(name)
    return monkeypatch


@pytest.mark.parametrize("name", ["ORGA_API_KEY", "ORGAAI_API_KEY"])
async def test_from_env_reads_each_default_variable_of_the_real_environment(
    environment: pytest.MonkeyPatch, name: str
) -> None:
    environment.setenv(name, ENV_KEY)
    provider = from_env()
    assert (await provider.resolve(None)).reveal() == ENV_KEY
    assert name in repr(provider) and ENV_KEY not in repr(provider)


async def test_from_env_prefers_orga_api_key(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("ORGAAI_API_KEY", VENDOR_KEY)
    environment.setenv("ORGA_API_KEY", ENV_KEY)
    assert (await from_env().resolve(None)).reveal() == ENV_KEY


@pytest.mark.parametrize("empty", ["", " \n"])
async def test_from_env_skips_an_empty_variable_as_the_endpoint_does(
    environment: pytest.MonkeyPatch, empty: str
) -> None:
    environment.setenv("ORGA_API_KEY", empty)
    environment.setenv("ORGAAI_API_KEY", VENDOR_KEY)
    assert (await from_env().resolve(None)).reveal() == VENDOR_KEY


async def test_an_endpoint_without_api_key_reads_orgaai_api_key(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("ORGAAI_API_KEY", VENDOR_KEY)
    fake = FakeOrga(api_key=VENDOR_KEY)
    async with make_endpoint(fake, api_key=None) as endpoint:
        await endpoint.issue()
    assert [c.key_fingerprint for c in fake.calls_to("client-secrets")] == [fingerprint(VENDOR_KEY)]
    assert VENDOR_KEY not in repr(endpoint)


@pytest.mark.parametrize("empty", ["", " \n"])
async def test_an_endpoint_prefers_orga_api_key_and_skips_an_empty_one(
    environment: pytest.MonkeyPatch, empty: str
) -> None:
    environment.setenv("ORGAAI_API_KEY", VENDOR_KEY)
    environment.setenv("ORGA_API_KEY", ENV_KEY)
    fake = FakeOrga(api_keys=[ENV_KEY, VENDOR_KEY])
    async with make_endpoint(fake, api_key=None) as endpoint:
        await endpoint.issue()
        environment.setenv("ORGA_API_KEY", empty)  # `ORGA_API_KEY=` in a .env file: not set
        async with make_endpoint(fake, api_key=None) as second:
            await second.issue()
    assert [c.key_fingerprint for c in fake.calls_to("client-secrets")] == [
        fingerprint(ENV_KEY),
        fingerprint(VENDOR_KEY),
    ]


def test_an_endpoint_without_any_key_names_both_variables(
    environment: pytest.MonkeyPatch,
) -> None:
    for build in (
        lambda: OrgaClientSecrets(authorize=allow_anonymous),
        lambda: EndpointConfig.from_env(authorize=allow_anonymous),
    ):
        with pytest.raises(ConfigurationError) as info:
            build()
        message = str(info.value)
        assert "ORGA_API_KEY or ORGAAI_API_KEY" in message
        assert "api_key=" in message and "sandbox=True" in message  # still the way out


def test_a_bad_orgaai_api_key_is_named_and_not_shown(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("ORGAAI_API_KEY", " " + VENDOR_KEY)
    with pytest.raises(ConfigurationError, match="white space") as info:
        OrgaClientSecrets(authorize=allow_anonymous)
    assert "ORGAAI_API_KEY" in str(info.value) and VENDOR_KEY not in str(info.value)


@pytest.mark.parametrize("name", ["ORGA_API_KEY", "ORGAAI_API_KEY"])
def test_orga_sandbox_refuses_a_real_key_in_either_variable(
    environment: pytest.MonkeyPatch, name: str
) -> None:
    environment.setenv("ORGA_SANDBOX", "1")
    environment.setenv(name, VENDOR_KEY)
    with pytest.raises(ConfigurationError, match="ORGA_SANDBOX=1") as info:
        OrgaClientSecrets(authorize=allow_anonymous)
    assert "ORGAAI_API_KEY" in str(info.value) and VENDOR_KEY not in str(info.value)


def test_orga_sandbox_beside_the_fakes_own_key_in_orgaai_api_key_starts(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("ORGA_SANDBOX", "1")
    environment.setenv("ORGAAI_API_KEY", FAKE_API_KEY)
    endpoint = OrgaClientSecrets(authorize=allow_anonymous)
    assert endpoint.config.sandbox is True
