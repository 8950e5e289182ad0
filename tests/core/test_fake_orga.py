"""FakeOrga: the sandbox upstream everything else in the suite is tested against."""

from __future__ import annotations

import base64
import json

import anyio
import httpx
import pytest

from orga_asgi.keys import fingerprint
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga, RecordedCall

pytestmark = pytest.mark.anyio

MINT = "/v1/realtime/client-secrets"
ICE = "/v1/realtime/ice-config"
KEY = {"Authorization": f"Bearer {FAKE_API_KEY}"}


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def client_for(fake: FakeOrga) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url=FAKE_BASE_URL)


@pytest.fixture
async def pair():
    fake = FakeOrga()
    async with client_for(fake) as client:
        yield fake, client


async def mint(client: httpx.AsyncClient) -> str:
    response = await client.post(MINT, headers=KEY)
    assert response.status_code == 200
    return response.json()["ephemeral_token"]


async def ice(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(ICE, headers={"Authorization": f"Bearer {token}"})


def b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# --- client-secrets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer sk_orga_ai_wrong"}, {"Authorization": FAKE_API_KEY}],
    ids=["missing", "wrong-key", "no-scheme"],
)
async def test_mint_rejects_missing_or_wrong_key(pair, headers):
    fake, client = pair
    response = await client.post(MINT, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized"}
    assert fake.token_count == 0


async def test_mint_default_shape_satisfies_sdk_and_guide(pair):
    _, client = pair
    response = await client.post(MINT, headers=KEY)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"ephemeral_token", "ephemeralToken", "ttl"}
    assert body["ephemeral_token"] == body["ephemeralToken"]
    assert body["ttl"] == 120


@pytest.mark.parametrize("field", ["ephemeralToken", "ephemeral_token"])
async def test_mint_single_token_field(field):
    fake = FakeOrga(token_field=field, ttl=None)
    async with client_for(fake) as client:
        body = (await client.post(MINT, headers=KEY)).json()
    assert set(body) == {field}


async def test_token_field_switches_at_runtime_and_is_validated(pair):
    fake, client = pair
    fake.token_field = "ephemeralToken"
    assert set((await client.post(MINT, headers=KEY)).json()) == {"ephemeralToken", "ttl"}
    fake.set_token_field("ephemeral_token")
    assert set((await client.post(MINT, headers=KEY)).json()) == {"ephemeral_token", "ttl"}
    with pytest.raises(ValueError):
        fake.token_field = "token"  # type: ignore[assignment]
    with pytest.raises(ValueError):
        FakeOrga(ttl=0)


async def test_custom_api_key_and_email_query_tolerated():
    fake = FakeOrga(api_key="sk_orga_ai_custom")
    async with client_for(fake) as client:
        assert (await client.post(MINT, headers=KEY)).status_code == 401
        response = await client.post(
            MINT,
            params={"email": "a@example.com"},
            headers={"Authorization": "bearer sk_orga_ai_custom"},
        )
    assert response.status_code == 200
    assert fake.calls[-1].query_string == "email=a%40example.com"


OLD_KEY = "sk_orga_ai_" + "fake0old0key0" * 2
NEW_KEY = "sk_orga_ai_" + "fake0new0key0" * 2


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_rotate_key_with_revoke_refuses_the_old_key_and_takes_the_new():
    fake = FakeOrga(api_key=OLD_KEY)
    assert fake.accepted_keys == [fingerprint(OLD_KEY)]
    async with client_for(fake) as client:
        assert (await client.post(MINT, headers=bearer(OLD_KEY))).status_code == 200
        assert (await client.post(MINT, headers=bearer(NEW_KEY))).status_code == 401
        fake.rotate_key(NEW_KEY, revoke=OLD_KEY)
        assert fake.accepted_keys == [fingerprint(NEW_KEY)]
        old = await client.post(MINT, headers=bearer(OLD_KEY))
        new = await client.post(MINT, headers=bearer(NEW_KEY))
    assert old.status_code == 401
    assert new.status_code == 200
    assert fake.minted_with(new.json()["ephemeral_token"]) == fingerprint(NEW_KEY)
    assert [c.key_fingerprint for c in fake.calls_to("client-secrets")] == [
        fingerprint(k) for k in (OLD_KEY, NEW_KEY, OLD_KEY, NEW_KEY)
    ]


async def test_rotate_key_without_revoke_keeps_both_until_revoked():
    fake = FakeOrga(api_key=OLD_KEY)
    fake.rotate_key(NEW_KEY)  # the dashboard's "create key": both work meanwhile
    assert fake.accepted_keys == [fingerprint(OLD_KEY), fingerprint(NEW_KEY)]
    async with client_for(fake) as client:
        for key in (OLD_KEY, NEW_KEY):
            assert (await client.post(MINT, headers=bearer(key))).status_code == 200
        fake.rotate_key(NEW_KEY, revoke=NEW_KEY)  # revoking the key being added: kept
        assert fake.accepted_keys == [fingerprint(OLD_KEY), fingerprint(NEW_KEY)]
        fake.rotate_key(NEW_KEY, revoke="sk_orga_ai_never0accepted")  # unknown: no error
        fake.rotate_key(NEW_KEY, revoke=OLD_KEY)
        assert (await client.post(MINT, headers=bearer(OLD_KEY))).status_code == 401
    for bad in ("", None):
        with pytest.raises(ValueError, match="non-empty"):
            fake.rotate_key(bad)  # type: ignore[arg-type]


def test_accepted_keys_are_fingerprints_never_the_keys():
    fake = FakeOrga(api_keys=[OLD_KEY, NEW_KEY])
    assert fake.accepted_keys == [fingerprint(OLD_KEY), fingerprint(NEW_KEY)]
    assert not any(key in shown for key in (OLD_KEY, NEW_KEY) for shown in fake.accepted_keys)
    fake.accepted_keys.clear()  # a copy: the fake still accepts both
    assert len(fake.accepted_keys) == 2
    with pytest.raises(ValueError, match="api_keys"):
        FakeOrga(api_keys=[])


async def test_tokens_are_unique_jwts(pair):
    _, client = pair
    tokens = [await mint(client) for _ in range(20)]
    assert len(set(tokens)) == 20
    header, payload, signature = tokens[0].split(".")
    assert json.loads(b64decode(header)) == {"alg": "HS256", "typ": "JWT"}
    claims = json.loads(b64decode(payload))
    assert set(claims) == {"sub", "iat", "exp", "jti"}
    assert claims["exp"] - claims["iat"] == 120
    assert len(b64decode(signature)) == 32  # HMAC-SHA256
    assert "=" not in tokens[0]


# --- ice-config -------------------------------------------------------------------------


async def test_ice_config_is_bound_to_the_token(pair):
    _, client = pair
    first, second = await mint(client), await mint(client)
    a1, a2, b = (await ice(client, first)), (await ice(client, first)), (await ice(client, second))
    assert a1.status_code == a2.status_code == b.status_code == 200
    stun, turn = a1.json()["iceServers"]
    assert stun == {"urls": "stun:stun.fake-orga.test:3478"}
    assert turn["urls"] == [
        "turn:turn.fake-orga.test:3478?transport=udp",
        "turn:turn.fake-orga.test:3478?transport=tcp",
    ]
    assert a1.json() == a2.json()
    other = b.json()["iceServers"][1]
    assert other["username"] != turn["username"]
    assert other["credential"] != turn["credential"]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-token", f"Bearer {FAKE_API_KEY}", "Basic abc"],
    ids=["missing", "unknown", "api-key", "basic"],
)
async def test_ice_config_rejects_unknown_tokens(pair, authorization):
    _, client = pair
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await client.get(ICE, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized"}


async def test_token_from_another_instance_is_rejected(pair):
    _, client = pair
    async with client_for(FakeOrga()) as other:
        token = await mint(other)
    assert (await ice(client, token)).status_code == 401


async def test_expired_token_is_rejected():
    clock = FakeClock()
    fake = FakeOrga(clock=clock, ttl=30)
    async with client_for(fake) as client:
        token = await mint(client)
        clock.now += 29.5
        assert (await ice(client, token)).status_code == 200
        clock.now += 1
        assert (await ice(client, token)).status_code == 401
        clock.now -= 10  # forgotten once expired, even if the clock goes back
        assert (await ice(client, token)).status_code == 401


async def test_a_token_expires_at_its_whole_second_exp():
    # docs/testing.md: exp is int(now) + ttl, as a JWT reader sees it (a ttl=1 token minted
    # late in a second lives a tenth of one); a clock that stands still keeps it alive.
    clock = FakeClock(1_700_000_000.9)
    fake = FakeOrga(clock=clock, ttl=1)
    async with client_for(fake) as client:
        token = await mint(client)
        clock.now = 1_700_000_000.99
        assert (await ice(client, token)).status_code == 200
        clock.now = 1_700_000_001.0  # 0.1 s after the mint: the exp second has come
        assert (await ice(client, token)).status_code == 401


async def test_ttl_none_tokens_still_expire():
    clock = FakeClock()
    fake = FakeOrga(clock=clock, ttl=None)
    async with client_for(fake) as client:
        token = (await client.post(MINT, headers=KEY)).json()["ephemeralToken"]
        clock.now += 121
        assert (await ice(client, token)).status_code == 401


# --- routing ----------------------------------------------------------------------------


async def test_unknown_path_is_404_and_wrong_method_is_405(pair):
    fake, client = pair
    missing = await client.get("/v1/realtime/sessions")  # /calls is served now
    assert missing.status_code == 404
    assert missing.json() == {"error": "Not Found"}
    wrong = await client.get(MINT, headers=KEY)
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert (await client.post(ICE)).headers["allow"] == "GET"
    assert len(fake.calls) == 3


# --- recording --------------------------------------------------------------------------


async def test_calls_are_recorded_and_redacted(pair):
    fake, client = pair
    token = await mint(client)
    await ice(client, token)
    await client.post(MINT, content=b'{"x":1}')
    secrets_calls = fake.calls_to("client-secrets")
    assert [c.authorization for c in secrets_calls] == [f"Bearer {FAKE_API_KEY}", None]
    assert secrets_calls[1].body == b'{"x":1}'
    ice_call = fake.calls_to("ice-config")[0]
    assert ice_call == RecordedCall("GET", ICE, "", f"Bearer {token}", b"")
    assert FAKE_API_KEY not in repr(secrets_calls[0])
    assert "Bearer <redacted>" in repr(secrets_calls[0])
    assert token not in repr(ice_call)
    assert FAKE_API_KEY not in repr(fake)
    assert FAKE_API_KEY not in repr(FakeOrga(api_key=FAKE_API_KEY))
    with pytest.raises(AttributeError):
        ice_call.path = "/x"  # type: ignore[misc]


def test_repr_truncates_huge_bodies_and_redacts_schemeless_headers():
    call = RecordedCall("POST", MINT, "", "sk_orga_ai_raw", b"x" * 10_000)
    text = repr(call)
    assert "sk_orga_ai_raw" not in text
    assert "'<redacted>'" in text
    assert "10000 bytes" in text
    assert len(text) < 300


async def test_reset_clears_calls_faults_and_tokens(pair):
    fake, client = pair
    token = await mint(client)
    fake.fail("client-secrets", status=500, times=None)
    fake.reset()
    assert fake.calls == []
    assert fake.token_count == 0
    assert (await ice(client, token)).status_code == 401
    assert (await client.post(MINT, headers=KEY)).status_code == 200


# --- bounded stores ---------------------------------------------------------------------


async def test_recorded_calls_are_bounded():
    fake = FakeOrga(max_calls=5)
    async with client_for(fake) as client:
        for i in range(8):
            await client.get(f"/nope/{i}")
    assert [c.path for c in fake.calls] == [f"/nope/{i}" for i in range(3, 8)]


async def test_recording_can_be_disabled_for_load_runs():
    fake = FakeOrga(max_calls=0)
    async with client_for(fake) as client:
        await mint(client)
    assert fake.calls == []


async def test_token_store_is_capped_oldest_first():
    fake = FakeOrga(max_tokens=3)
    async with client_for(fake) as client:
        tokens = [await mint(client) for _ in range(4)]
        assert fake.token_count == 3
        assert (await ice(client, tokens[0])).status_code == 401
        for token in tokens[1:]:
            assert (await ice(client, token)).status_code == 200


async def test_expired_tokens_are_dropped_on_mint():
    clock = FakeClock()
    fake = FakeOrga(clock=clock)
    async with client_for(fake) as client:
        for _ in range(5):
            await mint(client)
        clock.now += 121
        await mint(client)
    assert fake.token_count == 1


# --- fault injection --------------------------------------------------------------------


async def test_fault_status_with_retry_after(pair):
    fake, client = pair
    fake.fail("client-secrets", status=429, headers={"Retry-After": "7"})
    response = await client.post(MINT, headers=KEY)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json() == {"error": "Too Many Requests"}
    assert (await client.post(MINT, headers=KEY)).status_code == 200  # times=1 by default


async def test_fault_status_with_custom_body(pair):
    fake, client = pair
    fake.fail(
        "ice-config", status=503, body=b"<html>down</html>", headers={"Content-Type": "text/html"}
    )
    response = await ice(client, await mint(client))
    assert response.status_code == 503
    assert response.text == "<html>down</html>"
    assert response.headers["content-type"] == "text/html"


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("client-secrets", b"{not json"),
        ("client-secrets", b'{"ttl": 120}'),
        ("ice-config", b'{"iceServers": "nope"}'),
    ],
)
async def test_fault_body_alone_is_a_200(pair, route, body):
    fake, client = pair
    token = await mint(client)
    fake.fail(route, body=body)
    response = await (
        client.post(MINT, headers=KEY) if route == "client-secrets" else ice(client, token)
    )
    assert response.status_code == 200
    assert response.content == body


async def test_huge_body(pair):
    fake, client = pair
    fake.fail("client-secrets", body=b"x" * 10_000_000)
    response = await client.post(MINT, headers=KEY)
    assert len(response.content) == 10_000_000


async def test_fault_delay_alone_then_normal_answer(pair):
    fake, client = pair
    fake.fail("client-secrets", delay=0.05)
    start = anyio.current_time()
    response = await client.post(MINT, headers=KEY)
    assert anyio.current_time() - start >= 0.04  # event loops may wake a tick early
    assert response.status_code == 200
    assert "ephemeralToken" in response.json()


async def test_fault_delay_combined_with_status(pair):
    fake, client = pair
    fake.fail("client-secrets", delay=0.05, status=502)
    start = anyio.current_time()
    response = await client.post(MINT, headers=KEY)
    assert anyio.current_time() - start >= 0.04
    assert response.status_code == 502


async def test_fault_delay_can_be_cut_by_client_timeout(pair):
    fake, client = pair
    fake.fail("client-secrets", delay=5)
    with pytest.raises(TimeoutError), anyio.fail_after(0.05):
        await client.post(MINT, headers=KEY)


@pytest.mark.parametrize("route", ["client-secrets", "ice-config"])
async def test_fault_drop_raises_connection_reset(pair, route):
    fake, client = pair
    token = await mint(client)
    fake.fail(route, drop=True)
    with pytest.raises(ConnectionResetError, match="fake orga dropped the connection"):
        await (client.post(MINT, headers=KEY) if route == "client-secrets" else ice(client, token))
    assert (await ice(client, token)).status_code == 200


async def test_fault_defaults_bodies_by_status(pair):
    fake, client = pair
    fake.fail("client-secrets", status=599)
    fake.fail("client-secrets", status=200)
    fake.fail("client-secrets", status=204)
    first, second, third = [await client.post(MINT, headers=KEY) for _ in range(3)]
    assert (first.status_code, first.json()) == (599, {"error": "Injected fault"})
    assert (second.status_code, second.json()) == (200, {})
    assert (third.status_code, third.content) == (204, b"")


async def test_fault_drop_with_status(pair):
    fake, client = pair
    fake.fail("client-secrets", drop=True, status=503, delay=0.01)
    with pytest.raises(ConnectionResetError):
        await client.post(MINT, headers=KEY)


async def test_fault_times_then_healthy(pair):
    fake, client = pair
    fake.fail("client-secrets", status=500, times=2)
    statuses = [(await client.post(MINT, headers=KEY)).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]


async def test_fault_times_none_until_cleared(pair):
    fake, client = pair
    fake.fail("ice-config", status=503, times=None)
    token = await mint(client)  # other route unaffected
    for _ in range(5):
        assert (await ice(client, token)).status_code == 503
    fake.clear_faults()
    assert (await ice(client, token)).status_code == 200


async def test_faults_queue_in_order_and_skip_wrong_methods(pair):
    fake, client = pair
    fake.fail("client-secrets", status=500)
    fake.fail("client-secrets", status=401)
    assert (await client.get(MINT)).status_code == 405  # does not consume a fault
    statuses = [(await client.post(MINT, headers=KEY)).status_code for _ in range(3)]
    assert statuses == [500, 401, 200]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"route": "no-such-route", "status": 500},
        {"route": "ice-config"},
        {"route": "ice-config", "headers": {"Retry-After": "1"}},
        {"route": "ice-config", "status": 99},
        {"route": "ice-config", "status": 500, "times": 0},
        {"route": "ice-config", "delay": -1},
        {"route": "ice-config", "status": 503, "headers": {"Retry-After": "\u2603"}},
    ],
    ids=["route", "no-op", "headers-only", "status", "times", "delay", "header-encoding"],
)
def test_fail_validates_arguments(kwargs):
    with pytest.raises(ValueError):
        FakeOrga().fail(**kwargs)


# --- plugin fixtures and backends -------------------------------------------------------


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_pytest_plugin_fixtures(anyio_backend, fake_orga, fake_orga_client):
    assert isinstance(fake_orga, FakeOrga)
    assert str(fake_orga_client.base_url) == f"{FAKE_BASE_URL}"
    token = await mint(fake_orga_client)
    assert (await ice(fake_orga_client, token)).status_code == 200
    assert [c.path for c in fake_orga.calls] == [MINT, ICE]


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_mint_ice_and_delay_under_each_backend(anyio_backend):
    fake = FakeOrga()
    fake.fail("ice-config", delay=0.01)
    async with client_for(fake) as client:
        token = await mint(client)
        response = await ice(client, token)
    assert response.status_code == 200
    assert len(response.json()["iceServers"]) == 2


async def test_lifespan_is_answered():
    fake = FakeOrga()
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message["type"])

    await fake({"type": "lifespan"}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
