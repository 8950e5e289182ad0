"""Keys rotated, revoked and picked per tenant under a running endpoint (issue 15).

Real files swapped the way the kubelet swaps a secret volume, many concurrent requests
through the ASGI app, and FakeOrga holding several keys, rotating them at runtime and
recording which key each call used (by fingerprint). The leak guard (tests/conftest.py)
checks every log line and error body of every test here.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import httpx
import pytest

from orga_asgi import (
    ApiKeyUnavailable,
    EndpointConfig,
    OrgaClientSecrets,
    Principal,
    Secret,
    UpstreamAuthFailed,
)
from orga_asgi.keys import StaticKey, cached, fingerprint, from_env, from_file, per_principal
from orga_asgi.observe import Observer, UpstreamAttempt
from orga_asgi.testing import FakeOrga, RecordedCall
from tests._support import LogCapture, caller, make_endpoint
from tests.core.test_key_providers import Clock, SecretVolume, Source

pytestmark = pytest.mark.anyio

K1 = "sk_orga_ai_" + "rotation0old" * 2
K2 = "sk_orga_ai_" + "rotation0new" * 2
TENANT_KEYS = {t: f"sk_orga_ai_tenant0{t}0" + t * 12 for t in ("a", "b", "c")}
UNLIMITED = {"rate_limits": None, "ip_rate_limits": None, "max_in_flight_per_principal": None}


@pytest.fixture
def volume(tmp_path: Path) -> SecretVolume:
    vol = SecretVolume(tmp_path / "orga")
    vol.write(K1 + "\n")
    return vol


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    with LogCapture().installed("orga_asgi") as capture:
        yield capture


def mints(fake: FakeOrga, since: int = 0) -> list[RecordedCall]:
    return fake.calls_to("client-secrets")[since:]


def used(calls: list[RecordedCall]) -> list[str | None]:
    return [call.key_fingerprint for call in calls]


def at_level(logs: LogCapture, level: int) -> list[str]:
    return [r.getMessage() for r in logs.records if r.levelno == level]


async def until(condition: object, seconds: float = 10.0) -> None:
    with anyio.fail_after(seconds):
        while not condition():  # type: ignore[operator]  # noqa: ASYNC110 - polled, bounded
            await anyio.sleep(0.005)


async def test_a_key_file_swapped_under_load_is_picked_up_with_no_failed_request(
    volume: SecretVolume,
) -> None:
    fake = FakeOrga(api_key=K1)
    endpoint = make_endpoint(fake, api_key=from_file(volume.path, refresh=0.05), **UNLIMITED)
    statuses: list[int] = []
    stop = anyio.Event()

    async def worker(client: httpx.AsyncClient) -> None:
        for _ in range(2_000):  # bounded: the test ends even if a condition never holds
            if stop.is_set():
                return
            statuses.append((await client.get("/")).status_code)
            await anyio.sleep(0.001)  # in-process calls may never suspend: let others run

    async with caller(endpoint) as client, anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(worker, client)
        await until(lambda: len(statuses) >= 40)
        fake.rotate_key(K2)  # the dashboard: a new key, the old one still live
        volume.write(K2 + "\n")  # the kubelet swaps ..data under the running endpoint
        await until(lambda: fingerprint(K2) in used(mints(fake)))
        revoked_at = len(mints(fake))
        fake.rotate_key(K2, revoke=K1)  # the operator revokes the old key
        done = len(statuses)
        await until(lambda: len(statuses) >= done + 80)
        stop.set()
    await endpoint.aclose()
    assert len(statuses) >= 120 and set(statuses) == {200}
    # After the revocation only mints already holding the old key could send it (each was
    # then retried with the new one): at most one per worker.
    assert used(mints(fake, revoked_at)).count(fingerprint(K1)) <= 8
    assert used(mints(fake))[-40:] == [fingerprint(K2)] * 40


async def test_a_revoked_key_then_a_rotated_file_costs_one_retried_mint(
    volume: SecretVolume, logs: LogCapture
) -> None:
    fake = FakeOrga(api_key=K1)
    async with caller(endpoint := make_endpoint(fake, api_key=from_file(volume.path))) as client:
        assert (await client.get("/")).status_code == 200
        fake.rotate_key(K2, revoke=K1)  # revoked first...
        volume.write(K2)  # ...then the file rotated; refresh=30 would notice it late
        before = len(mints(fake))
        response = await client.get("/")
        assert response.status_code == 200
        assert used(mints(fake, before)) == [fingerprint(K1), fingerprint(K2)]
        before = len(mints(fake))
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(client.get, "/")
        assert used(mints(fake, before)) == [fingerprint(K2)] * 5  # no retry any more
    await endpoint.aclose()
    [warning] = at_level(logs, logging.WARNING)
    assert fingerprint(K1) in warning and fingerprint(K2) in warning
    assert at_level(logs, logging.ERROR) == []


async def test_a_revoked_key_without_a_new_one_is_502_after_one_mint(
    volume: SecretVolume, logs: LogCapture
) -> None:
    fake = FakeOrga(api_key=K1)
    async with caller(endpoint := make_endpoint(fake, api_key=from_file(volume.path))) as client:
        fake.rotate_key(K2, revoke=K1)  # the file still holds the revoked key
        response = await client.get("/")
    await endpoint.aclose()
    assert (response.status_code, response.json()["error"]) == (502, "upstream_auth_failed")
    assert used(mints(fake)) == [fingerprint(K1)]  # read again, unchanged: no retry
    [error] = at_level(logs, logging.ERROR)
    assert "rejected" in error and fingerprint(K1) in error


async def test_a_rotated_secret_manager_key_costs_one_retried_mint() -> None:
    fake, source = FakeOrga(api_key=K1), Source(K1)
    endpoint = make_endpoint(fake, api_key=cached(source.fetch))
    await endpoint.issue()
    fake.rotate_key(K2, revoke=K1)
    source.value = K2
    await endpoint.issue()
    assert used(mints(fake)) == [fingerprint(K1), fingerprint(K1), fingerprint(K2)]
    assert source.fetches == 2
    await endpoint.aclose()


async def test_a_per_tenant_callable_sends_each_tenant_its_own_key_under_concurrency() -> None:
    fake = FakeOrga(api_keys=list(TENANT_KEYS.values()))
    asked: list[str | None] = []

    async def pick(principal: Principal | None) -> str:
        assert principal is not None
        asked.append(principal.id)
        await anyio.sleep(random.random() / 500)  # interleave the mints
        return TENANT_KEYS[principal.claims["tenant"]]

    def who(request: object) -> Principal:
        headers = request.headers  # type: ignore[attr-defined]
        tenant = headers["x-tenant"]
        return Principal(id=f"{tenant}:{headers['x-user']}", claims={"tenant": tenant})

    endpoint = make_endpoint(fake, authorize=who, api_key=pick, **UNLIMITED)
    answers: list[tuple[str, httpx.Response]] = []

    async def mint(client: httpx.AsyncClient, n: int) -> None:
        tenant = "abc"[n % 3]
        headers = {"x-tenant": tenant, "x-user": str(n)}
        answers.append((tenant, await client.get("/", headers=headers)))

    async with caller(endpoint) as client, anyio.create_task_group() as tg:
        for n in range(90):
            tg.start_soon(mint, client, n)
    issued: list[tuple[str, str]] = []

    async def issue(n: int) -> None:
        tenant = "abc"[n % 3]
        secrets = await endpoint.issue(Principal(id=f"i{n}", claims={"tenant": tenant}))
        issued.append((tenant, secrets.ephemeral_token))

    async with anyio.create_task_group() as tg:
        for n in range(30):
            tg.start_soon(issue, n)
    await endpoint.aclose()
    assert len(answers) == 90 and all(r.status_code == 200 for _, r in answers)
    tokens = [(t, r.json()["ephemeralToken"]) for t, r in answers] + issued
    for tenant, token in tokens:  # each mint carried its own tenant's key, never another's
        assert fake.minted_with(token) == fingerprint(TENANT_KEYS[tenant])
    assert Counter(used(mints(fake))) == {fingerprint(k): 40 for k in TENANT_KEYS.values()}
    assert len(asked) == 120


async def test_a_failing_secret_manager_keeps_the_last_good_key(logs: LogCapture) -> None:
    fake, clock, source = FakeOrga(api_key=K1), Clock(), Source(K1)
    endpoint = make_endpoint(fake, api_key=cached(source.fetch, ttl=60, clock=clock))
    async with caller(endpoint) as client:
        assert (await client.get("/")).status_code == 200
        source.failure = TimeoutError(f"secretsmanager timed out holding {K2}")
        for _ in range(4):
            clock.now += 61
            assert (await client.get("/")).status_code == 200
            await anyio.sleep(0.01)  # the background fetch fails meanwhile
    await endpoint.aclose()
    assert source.fetches >= 3
    assert used(mints(fake)) == [fingerprint(K1)] * 5
    assert len(at_level(logs, logging.WARNING)) == 1
    assert at_level(logs, logging.ERROR) == []


async def test_a_secret_manager_that_never_answered_is_503_with_one_error_line(
    logs: LogCapture,
) -> None:
    fake, source = FakeOrga(api_key=K1), Source(K1)
    source.failure = PermissionError(f"AccessDenied: {K1}")
    endpoint = make_endpoint(fake, api_key=cached(source.fetch))
    async with caller(endpoint) as client:
        response = await client.get("/")
    await endpoint.aclose()
    assert (response.status_code, response.json()["error"]) == (503, "api_key_unavailable")
    assert K1 not in response.text and fake.calls == []
    [error] = at_level(logs, logging.ERROR)
    assert "PermissionError" in error


async def test_the_endpoint_closes_its_key_provider() -> None:
    source = Source(K1)
    source.gate = anyio.Event()  # the first fetch hangs until the endpoint closes
    endpoint = make_endpoint(FakeOrga(api_key=K1), api_key=cached(source.fetch))
    async with anyio.create_task_group() as tg:

        async def mint() -> None:
            with pytest.raises(ApiKeyUnavailable):
                await endpoint.issue()

        tg.start_soon(mint)
        await until(lambda: source.fetches == 1)
        await endpoint.aclose()  # cancels the fetch: the waiting mint gets a 503
    assert source.fetches == 1


async def test_no_provider_shows_a_key_in_the_endpoints_repr_or_errors(
    volume: SecretVolume,
) -> None:
    async def fetch() -> str:
        return K1

    fake = FakeOrga(api_key=K1)
    for api_key in (
        K1,
        Secret(K1),
        StaticKey(K1),
        from_env(environ={"ORGA_API_KEY": K1}),
        from_file(volume.path),
        cached(fetch),
        per_principal(lambda principal: K1),
        lambda principal: K1,
    ):
        endpoint = make_endpoint(fake, api_key=api_key)
        config = EndpointConfig(authorize=lambda r: None, api_key=api_key)
        for text in (repr(endpoint), repr(endpoint.config), repr(config), str(config)):
            assert K1 not in text and "rotation0old" not in text
        fake.rotate_key(K2, revoke=K1)
        with pytest.raises(UpstreamAuthFailed) as info:
            await endpoint.issue()
        assert K1 not in str(info.value) and K1 not in repr(info.value)
        fake.rotate_key(K1, revoke=K2)
        await endpoint.aclose()
    assert isinstance(endpoint, OrgaClientSecrets)


async def test_the_retry_with_a_rotated_key_is_reported_as_a_resend_to_every_observer() -> None:
    # The HTTP conventions count a resend "for any reason, including authorization failure":
    # the mint's second client-secrets request continues the count, for every observer.
    class Attempts(Observer):
        def __init__(self) -> None:
            self.seen: list[tuple[str, int | None, int]] = []

        def on_upstream_attempt(self, attempt: UpstreamAttempt) -> None:
            self.seen.append((attempt.call, attempt.status, attempt.resend_count))

    fake, source, attempts = FakeOrga(api_key=K1), Source(K1), Attempts()
    endpoint = make_endpoint(fake, api_key=cached(source.fetch), observers=(attempts,))
    await endpoint.issue()
    fake.rotate_key(K2, revoke=K1)
    source.value = K2
    await endpoint.issue()
    await endpoint.issue()  # a mint of its own: its count starts afresh
    await endpoint.aclose()
    assert attempts.seen == [
        ("client-secrets", 200, 0),
        ("ice-config", 200, 0),
        ("client-secrets", 401, 0),
        ("client-secrets", 200, 1),
        ("ice-config", 200, 0),
        ("client-secrets", 200, 0),
        ("ice-config", 200, 0),
    ]
