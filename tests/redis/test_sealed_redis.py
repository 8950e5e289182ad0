"""Sealed sessions on a real Redis: any process redeems a handle minted by another, once,
even when processes race for it; a dump holds no usable handle, token or prompt; expired
handles are counted; a store outage is a 503, never a 500."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
import redis.asyncio

from orga_asgi import Pinned, SessionPolicy
from orga_asgi.observe import HandlesExpired, Observer
from orga_asgi.testing import FakeOrga
from orga_asgi.testing._recording import remember
from tests._redis import RedisServer
from tests._support import caller, free_port
from tests.sealed._support import RELAY, TOKEN_ROUTE, mint, sealed_app, session_body, start

pytestmark = [pytest.mark.redis]

HERE = Path(__file__).parent
PROMPT = "You are the night porter of Hotel Meridian; the safe code is 9912."


@contextmanager
def serve(app: str, env: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """Serve ``_sealed_app:<app>`` in its own uvicorn process; yield its URL and (after the
    block) its output lines; always stop it."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", f"_sealed_app:{app}", "--app-dir", str(HERE)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "info"]
    process = subprocess.Popen(
        command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output: list[str] = []
    reader = threading.Thread(
        target=lambda: output.extend(line.decode("utf-8", "replace") for line in process.stdout),  # type: ignore[union-attr]
        daemon=True,
    )
    reader.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {process.returncode}:\n{''.join(output)}")
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not answer within 60 s")
            time.sleep(0.05)
        yield base, output
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        reader.join(5)
        if process.stdout:
            process.stdout.close()


@pytest.mark.servers
def test_a_handle_minted_by_one_process_is_redeemed_once_by_any(redis_url: str) -> None:
    with ExitStack() as stack:
        fake_url, fake_out = stack.enter_context(serve("fake_app", {}))
        env = {"ORGA_TEST_REDIS_URL": redis_url, "ORGA_TEST_FAKE_URL": fake_url,
               "ORGA_TEST_APP": "sealed"}  # fmt: skip
        first, first_out = stack.enter_context(serve("endpoint_app", env))
        second, second_out = stack.enter_context(serve("endpoint_app", env))
        headers = {"authorization": "Bearer carol", "x-forwarded-proto": "https"}
        client = stack.enter_context(httpx.Client(timeout=10, headers=headers))
        pids = {client.get(f"{base}/health").text for base in (first, second)}
        assert len(pids) == 2  # really two processes

        def start_at(base: str, handle: str) -> httpx.Response:
            auth = {"authorization": f"Bearer {handle}"}
            return client.post(f"{base}{RELAY}", json=session_body(), headers=auth)

        handles = []
        for n in range(12):
            minted = client.post(f"{(first, second)[n % 2]}{TOKEN_ROUTE}")
            assert minted.status_code == 200, minted.text
            handles.append(minted.json()["ephemeralToken"])
        # Minted by one, started by the other; then refused by both.
        started = start_at(second, handles[0])
        assert started.status_code == 200, started.text
        assert started.json()["answer"]["type"] == "answer"
        assert [start_at(base, handles[0]).status_code for base in (first, second)] == [401, 401]
        # The others: both processes race for each handle at once; one wins, every time.
        results: dict[str, list[int]] = {}

        def race(handle: str) -> None:
            barrier = threading.Barrier(2)
            statuses: list[int] = []

            def one(base: str) -> None:
                barrier.wait()
                statuses.append(start_at(base, handle).status_code)

            threads = [threading.Thread(target=one, args=(b,)) for b in (first, second)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(20)
            results[handle] = sorted(statuses)

        for handle in handles[1:]:
            race(handle)
    assert all(statuses == [200, 401] for statuses in results.values()), results
    # No process wrote a handle or the pinned prompt to its output.
    output = "".join(fake_out + first_out + second_out)
    assert PROMPT not in output
    assert not any(handle in output for handle in handles)


class Expired(Observer):
    def __init__(self) -> None:
        self.counts: list[int] = []

    def on_handles_expired(self, event: HandlesExpired) -> None:
        self.counts.append(event.count)


def _own_db(server: RedisServer, db: int) -> str:
    """The private server's URL on database ``db``, emptied: this test's counts alone."""
    url = server.url.rsplit("/", 1)[0] + f"/{db}"
    import redis as sync_redis

    sync_redis.Redis.from_url(url).flushdb()
    return url


@pytest.mark.anyio
async def test_a_dump_holds_no_usable_handle_token_or_prompt(
    fake: FakeOrga, private_redis: RedisServer
) -> None:
    url = _own_db(private_redis, 3)
    remember((PROMPT,))
    policy = SessionPolicy(instructions=Pinned(PROMPT))
    app, endpoint = sealed_app(fake, storage_uri=url, session_policy=lambda p: policy)
    async with caller(app) as client:
        handles = [await mint(client) for _ in range(3)]
        store = redis.asyncio.Redis.from_url(url)
        try:
            dump = b""
            async for key in store.scan_iter():
                kind = await store.type(key)
                value = await store.get(key) if kind == b"string" else b""
                if kind == b"zset":
                    value = b" ".join(await store.zrange(key, 0, -1))
                dump += key + b"\n" + value + b"\n"
        finally:
            await store.aclose()
        secrets = [*handles, PROMPT, *fake.issued_secrets()]
        assert dump.count(b"\n") >= 2 * 4  # three records and the set of live ids
        assert not any(s.encode() in dump for s in secrets)
        # And the handles still work: the store is just unreadable without them.
        assert (await start(client, handles[0])).status_code == 200
    await endpoint.aclose()


@pytest.mark.anyio
async def test_expired_handles_fail_and_are_counted_once(private_redis: RedisServer) -> None:
    url = _own_db(private_redis, 4)
    # The fake's own clock stands still: its tokens' whole-second exp would otherwise end
    # within a mint now and then; what must run out here is the handles' ttl.
    fake = FakeOrga(ttl=1, clock=lambda: 1_700_000_000.0)
    first, second = Expired(), Expired()
    app_a, endpoint_a = sealed_app(fake, storage_uri=url, observers=[first])
    app_b, endpoint_b = sealed_app(fake, storage_uri=url, observers=[second])
    async with caller(app_a) as a, caller(app_b) as b:
        stale = [await mint(a), await mint(b), await mint(a)]
        redeemed = await mint(b)
        assert (await start(a, redeemed)).status_code == 200
        time.sleep(1.1)  # noqa: ASYNC251 - the handles' own ttl, in Redis
        assert (await start(b, stale[0])).status_code == 401  # expired: refused
        fake.ttl = 60
        await mint(a)  # its sweep finds what the redeem's did not
    assert sum(first.counts) + sum(second.counts) == 3  # each expired handle, once
    await endpoint_a.aclose()
    await endpoint_b.aclose()


@pytest.mark.anyio
async def test_a_store_outage_is_a_503_with_a_request_id(
    fake: FakeOrga, private_redis: RedisServer
) -> None:
    app, endpoint = sealed_app(
        fake, storage_uri=private_redis.url, rate_limits=None, ip_rate_limits=None
    )
    async with caller(app) as client:
        handle = await mint(client)
        private_redis.stop()
        try:
            refused = [await client.post(TOKEN_ROUTE), await start(client, handle)]
        finally:
            private_redis.start()
        for response in refused:
            assert response.status_code == 503
            assert response.json()["error"] == "session_store_unavailable"
            assert response.json()["requestId"] == response.headers["x-request-id"]
        assert fake.calls_to("calls") == []
    await endpoint.aclose()
