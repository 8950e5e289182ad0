"""The gate against a real Redis Sentinel and a real (one-node) Redis Cluster.

Both run as extra private ``redis-server`` processes (a sentinel watching the session's
server; a node owning every slot). The cluster
checks what a single server cannot: every script's keys hash to one slot (the sliding window
counter's ``{key}`` pair), or Redis refuses it with CROSSSLOT.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from orga_asgi._ratelimit import RateLimitExceeded, RateLimitGate

pytestmark = [pytest.mark.redis, pytest.mark.anyio]


def command(port: int, *words: str) -> bytes:
    """One RESP command on a fresh connection; returns the raw reply."""
    payload = b"*%d\r\n" % len(words) + b"".join(
        b"$%d\r\n%s\r\n" % (len(w.encode()), w.encode()) for w in words
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        return sock.recv(65536)


@pytest.fixture
def sentinel_url(private_redis: Any, spawn_redis: Callable[..., Any]) -> str:
    config = f"sentinel monitor mymaster 127.0.0.1 {private_redis.port} 1\n"
    sentinel = spawn_redis("--sentinel", config=config)
    return f"redis+sentinel://127.0.0.1:{sentinel.port}/mymaster"


@pytest.fixture
def cluster_url(spawn_redis: Callable[..., Any]) -> str:
    node = spawn_redis("--cluster-enabled", "yes")
    assert command(node.port, "CLUSTER", "ADDSLOTSRANGE", "0", "16383").startswith(b"+OK")
    deadline = time.monotonic() + 10
    while b"cluster_state:ok" not in command(node.port, "CLUSTER", "INFO"):
        assert time.monotonic() < deadline, "the cluster did not become ready"
        time.sleep(0.05)
    return f"redis+cluster://127.0.0.1:{node.port}"


async def exercise(url: str, prefix: str, strategy: str) -> list[str]:
    gate = RateLimitGate(
        rate_limits=("2/minute", "10/hour"),
        ip_rate_limits=("5/minute",),
        storage_uri=url,
        strategy=strategy,  # type: ignore[arg-type]
        key_prefix=prefix,
        on_storage_error="deny",  # a failure must show, not fall back silently
    )
    results = []
    try:
        for _ in range(3):
            await gate.check_ip("10.0.0.1")
            try:
                await gate.check_principal("alice")
                results.append("ok")
            except RateLimitExceeded:
                results.append("limited")
        await gate.reset()  # scans every node for this gate's keys and deletes them
        await gate.check_principal("alice")
        results.append("ok after reset")
    finally:
        await gate.aclose()
    return results


@pytest.mark.parametrize("strategy", ["moving-window", "sliding-window-counter"])
async def test_through_sentinel(sentinel_url: str, key_prefix: str, strategy: str) -> None:
    assert await exercise(sentinel_url, key_prefix, strategy) == [
        "ok",
        "ok",
        "limited",
        "ok after reset",
    ]


@pytest.mark.parametrize("strategy", ["moving-window", "sliding-window-counter"])
async def test_on_a_cluster(cluster_url: str, key_prefix: str, strategy: str) -> None:
    assert await exercise(cluster_url, key_prefix, strategy) == [
        "ok",
        "ok",
        "limited",
        "ok after reset",
    ]
