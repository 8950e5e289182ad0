"""The key providers of ``orga_asgi.keys`` on their own: environment, file, cached secret
manager, per-principal callable, and the fingerprint that names a key in logs.

Files are real files in ``tmp_path``, swapped the way the kubelet swaps a secret volume;
time is an injected clock; the leak guard (tests/conftest.py) checks every log line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from orga_asgi import ApiKeyUnavailable, ConfigurationError, Principal, Secret
from orga_asgi.keys import (
    KeyProvider,
    StaticKey,
    cached,
    fingerprint,
    from_env,
    from_file,
    per_principal,
)
from tests._support import LogCapture

pytestmark = pytest.mark.anyio

K1 = "sk_orga_ai_" + "first0key0" * 3
K2 = "sk_orga_ai_" + "second0key" * 3
K3 = "sk_orga_ai_" + "third0key0" * 3


class Clock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SecretVolume:
    """A directory laid out as the kubelet lays out a secret volume, updated as it does:
    the file is a symlink through ``..data``, and an update writes a new timestamped
    directory, then renames a new ``..data`` symlink over the old one (atomic)."""

    def __init__(self, root: Path, name: str = "api-key") -> None:
        self.root, self.name, self.version = root, name, 0
        root.mkdir(exist_ok=True)
        self.path = root / name

    def write(self, content: str) -> None:
        self.version += 1
        stamp = self.root / f"..2024_01_01_00_00_0{self.version}.{os.getpid()}"
        stamp.mkdir()
        (stamp / self.name).write_text(content)
        tmp = self.root / "..data_tmp"
        tmp.symlink_to(stamp.name)
        os.replace(tmp, self.root / "..data")  # the atomic swap
        if not self.path.is_symlink():
            self.path.symlink_to(f"..data/{self.name}")


@pytest.fixture
def volume(tmp_path: Path) -> SecretVolume:
    vol = SecretVolume(tmp_path / "orga")
    vol.write(K1 + "\n")
    return vol


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    with LogCapture().installed("orga_asgi") as capture:
        yield capture


def warnings_in(logs: LogCapture) -> list[str]:
    return [r.getMessage() for r in logs.records if r.levelno == logging.WARNING]


def assert_no_key_in(*texts: str) -> None:
    for text in texts:
        assert not any(k in text for k in (K1, K2, K3)), text


# fingerprint


def test_fingerprint_shows_the_prefix_and_the_last_four() -> None:
    assert fingerprint(K1) == "sk_orga_ai_…key0"
    assert fingerprint(Secret(K2)) == "sk_orga_ai_…0key"
    assert fingerprint(K1) != fingerprint(K2)


@pytest.mark.parametrize("body", ["a", "test", "abcdefgh", "abcdefghijklmno"])
def test_fingerprint_of_a_short_key_shows_at_most_a_quarter(body: str) -> None:
    shown = fingerprint("sk_orga_ai_" + body).removeprefix("sk_orga_ai_…")
    assert len(shown) <= len(body) // 4
    assert body.endswith(shown)


# from_env


async def test_from_env_reads_the_first_variable_that_is_set() -> None:
    env = {"ORGA_API_KEY": "", "ORGAAI_API_KEY": K2}
    provider = from_env(environ=env)
    assert isinstance(provider, KeyProvider)
    assert (await provider.resolve(None)).reveal() == K2  # empty counts as unset
    assert (await from_env(environ={"ORGA_API_KEY": K1, "ORGAAI_API_KEY": K2}).resolve(None)) == (
        Secret(K1)
    )
    mine = from_env("MY_KEY", "ORGA_API_KEY", environ={"MY_KEY": K3, "ORGA_API_KEY": K1})
    assert (await mine.resolve(Principal(id="u"))).reveal() == K3
    assert repr(mine) == "from_env('MY_KEY', 'ORGA_API_KEY') reading MY_KEY"


def test_from_env_fails_at_construction_naming_the_variables_not_the_value() -> None:
    with pytest.raises(ConfigurationError, match="ORGA_API_KEY or ORGAAI_API_KEY"):
        from_env(environ={})
    with pytest.raises(ConfigurationError, match="MY_KEY") as info:
        from_env("MY_KEY", environ={"MY_KEY": K1 + " "})
    assert K1 not in str(info.value)
    with pytest.raises(ConfigurationError):
        from_env("", environ={})


async def test_from_env_reads_again_after_invalidate() -> None:
    env = {"ORGA_API_KEY": K1}
    provider = from_env(environ=env)
    env["ORGA_API_KEY"] = K2
    assert (await provider.resolve(None)).reveal() == K1  # read once
    provider.invalidate()
    assert (await provider.resolve(None)).reveal() == K2
    env["ORGA_API_KEY"] = "broken"
    provider.invalidate()
    assert (await provider.resolve(None)).reveal() == K2  # a bad value keeps the last key


# from_file


async def test_from_file_reads_the_key_and_drops_one_newline(volume: SecretVolume) -> None:
    provider = from_file(volume.path)
    assert (await provider.resolve(None)).reveal() == K1
    assert repr(provider) == f"from_file({str(volume.path)!r}, refresh=30.0)"
    assert_no_key_in(repr(provider))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (K1 + "\n\n", "white space"),
        (" " + K1, "white space"),
        ("sk_live_nope", "does not look like one"),
        ("", "No Orga API key"),
        ("x" * 5000, "more than 4096 bytes"),
    ],
)
def test_from_file_refuses_a_bad_file_at_construction(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "key"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match=message) as info:
        from_file(path)
    assert str(path) in str(info.value)
    assert_no_key_in(str(info.value))


def test_from_file_refuses_a_missing_file_and_a_bad_refresh(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="FileNotFoundError"):
        from_file(tmp_path / "missing")
    (tmp_path / "key").write_text(K1)
    for refresh in (-1, float("inf"), "30", True):
        with pytest.raises(ConfigurationError, match="refresh"):
            from_file(tmp_path / "key", refresh=refresh)  # type: ignore[arg-type]


async def test_from_file_follows_a_symlink_swap_after_refresh_seconds(
    volume: SecretVolume,
) -> None:
    clock = Clock()
    provider = from_file(volume.path, refresh=30.0, clock=clock)
    volume.write(K2 + "\n")
    clock.now += 29.9
    assert (await provider.resolve(None)).reveal() == K1  # not checked yet
    clock.now += 0.2
    assert (await provider.resolve(None)).reveal() == K2
    volume.write(K3)
    assert (await provider.resolve(None)).reveal() == K2  # checked just now
    clock.now += 30
    assert (await provider.resolve(None)).reveal() == K3


async def test_from_file_tells_a_change_by_the_files_identity_and_invalidate_rereads(
    tmp_path: Path,
) -> None:
    path = tmp_path / "key"
    path.write_text(K1)
    clock = Clock()
    provider = from_file(path, refresh=1.0, clock=clock)
    before = path.stat()
    path.write_text(K2)  # in place, same size: only the mtime could tell
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    clock.now += 5
    assert (await provider.resolve(None)).reveal() == K1  # same identity: not re-read
    provider.invalidate()
    assert (await provider.resolve(None)).reveal() == K2  # forced: read whatever is there


async def test_from_file_keeps_the_last_good_key_while_the_file_is_bad(
    volume: SecretVolume, logs: LogCapture
) -> None:
    clock = Clock()
    provider = from_file(volume.path, refresh=10.0, clock=clock)
    volume.write("not a key\n")
    for _ in range(3):
        clock.now += 10
        assert (await provider.resolve(None)).reveal() == K1
    os.unlink(volume.path)
    provider.invalidate()
    assert (await provider.resolve(None)).reveal() == K1
    found = warnings_in(logs)
    assert len(found) == 1 and fingerprint(K1) in found[0]  # one per failure streak
    volume.path.symlink_to("..data/api-key")
    volume.write(K2)
    clock.now += 10
    assert (await provider.resolve(None)).reveal() == K2
    assert "usable again" in logs.text()
    assert fingerprint(K2) in logs.text()
    assert_no_key_in(logs.text())


async def test_from_file_serves_concurrent_mints_during_a_check(volume: SecretVolume) -> None:
    clock = Clock()
    provider = from_file(volume.path, refresh=5.0, clock=clock)
    volume.write(K2)
    clock.now += 5
    seen: list[str] = []

    async def mint() -> None:
        seen.append((await provider.resolve(None)).reveal())

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(mint)
    # The first starts the check; the others serve the key it started from, or the new one.
    assert set(seen) <= {K1, K2} and seen.count(K2) >= 1
    assert (await provider.resolve(None)).reveal() == K2


# cached


class Source:
    """A stand-in secret manager: hands out ``value``, counts fetches, can fail or hang."""

    def __init__(self, value: str = K1) -> None:
        self.value = value
        self.fetches = 0
        self.failure: BaseException | None = None
        self.gate: anyio.Event | None = None

    async def fetch(self) -> str:
        self.fetches += 1
        value = self.value  # what the secret manager held when asked
        if self.gate is not None:
            await self.gate.wait()
        if self.failure is not None:
            raise self.failure
        return value


async def until_fetched(source: Source, count: int) -> None:
    with anyio.fail_after(5):
        while source.fetches < count:  # noqa: ASYNC110 - polled, bounded
            await anyio.sleep(0.001)


async def eventually(provider: KeyProvider, key: str) -> None:
    """Wait (bounded) until the background refresh has put ``key`` in place."""
    with anyio.fail_after(5):
        # Polled: the refresh runs in a task of its own, which signals nothing.
        while (await provider.resolve(None)).reveal() != key:  # noqa: ASYNC110
            await anyio.sleep(0.001)


async def test_cached_fetches_once_for_concurrent_first_mints() -> None:
    source = Source()
    source.gate = anyio.Event()
    provider = cached(source.fetch)
    seen: list[str] = []

    async def mint() -> None:
        seen.append((await provider.resolve(None)).reveal())

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(mint)
        await anyio.sleep(0.01)
        source.gate.set()
    assert seen == [K1] * 20
    assert source.fetches == 1


async def test_cached_serves_a_fresh_key_then_refreshes_a_stale_one_in_the_background() -> None:
    clock, source = Clock(), Source()
    provider = cached(source.fetch, ttl=300, clock=clock)
    assert (await provider.resolve(None)).reveal() == K1
    clock.now += 299
    source.value = K2
    assert (await provider.resolve(None)).reveal() == K1
    assert source.fetches == 1
    clock.now += 2
    source.gate = anyio.Event()  # the refresh hangs: mints do not wait for it
    for _ in range(10):
        assert (await provider.resolve(None)).reveal() == K1
    await anyio.sleep(0.01)
    assert source.fetches == 2  # one in flight, however many mints asked
    source.gate.set()
    await eventually(provider, K2)
    assert source.fetches == 2


async def test_cached_keeps_the_last_good_key_while_fetches_fail(logs: LogCapture) -> None:
    clock, source = Clock(), Source()
    provider = cached(source.fetch, ttl=60, clock=clock)
    await provider.resolve(None)
    source.failure = RuntimeError(f"AccessDenied for {K2}")  # the text must not be logged
    for expected_fetches in (2, 3, 4):
        clock.now += 61
        assert (await provider.resolve(None)).reveal() == K1
        await anyio.sleep(0.01)
        assert source.fetches == expected_fetches
    # Backing off: 1, 2, 4 ... seconds after a failure nothing is fetched.
    assert (await provider.resolve(None)).reveal() == K1
    await anyio.sleep(0.01)
    assert source.fetches == 4
    found = warnings_in(logs)
    assert len(found) == 1  # one per failure streak
    assert "RuntimeError" in found[0] and fingerprint(K1) in found[0]
    source.failure, source.value = None, K2
    clock.now += 61
    await provider.resolve(None)
    await eventually(provider, K2)
    assert "works again" in logs.text()
    source.value = "sk_live_wrong"  # a value that is not a key is a failure too
    clock.now += 61
    await provider.resolve(None)
    await anyio.sleep(0.01)
    assert (await provider.resolve(None)).reveal() == K2
    assert len(warnings_in(logs)) == 2  # a new streak
    assert_no_key_in(logs.text())


async def test_cached_backoff_is_bounded() -> None:
    from orga_asgi._keys.flight import BACKOFF_MOST, backoff

    waits = [backoff(n) for n in range(1, 40)]
    assert waits[:4] == [1.0, 2.0, 4.0, 8.0]
    assert max(waits) == BACKOFF_MOST == waits[-1]


async def test_cached_without_any_key_is_unavailable_and_backs_off() -> None:
    clock, source = Clock(), Source()
    source.failure = OSError("connection refused")
    provider = cached(source.fetch, clock=clock)
    with pytest.raises(ApiKeyUnavailable, match="OSError"):
        await provider.resolve(None)
    with pytest.raises(ApiKeyUnavailable):
        await provider.resolve(None)
    assert source.fetches == 1  # within the backoff: refused without asking again
    source.failure = None
    clock.now += 1
    assert (await provider.resolve(None)).reveal() == K1
    assert source.fetches == 2


async def test_cached_gives_up_on_a_fetch_that_hangs() -> None:
    source = Source()
    source.gate = anyio.Event()  # never set
    provider = cached(source.fetch, timeout=0.05)
    with pytest.raises(ApiKeyUnavailable, match="TimeoutError"):
        await provider.resolve(None)


async def test_cached_after_invalidate_waits_for_a_new_fetch() -> None:
    clock, source = Clock(), Source()
    provider = cached(source.fetch, clock=clock)
    await provider.resolve(None)
    source.value = K2
    provider.invalidate()
    assert (await provider.resolve(None)).reveal() == K2  # rotated: the mint can retry
    assert source.fetches == 2
    provider.invalidate()  # rejected again, and the source still has the same key
    assert (await provider.resolve(None)).reveal() == K2
    assert source.fetches == 3
    for _ in range(5):  # a storm of rejections: at most one fetch a second
        provider.invalidate()
        assert (await provider.resolve(None)).reveal() == K2
    assert source.fetches == 3
    clock.now += 1
    source.value = K3
    provider.invalidate()
    assert (await provider.resolve(None)).reveal() == K3
    assert source.fetches == 4


async def test_cached_after_invalidate_does_not_settle_for_a_fetch_begun_before() -> None:
    clock, source = Clock(), Source()
    provider = cached(source.fetch, ttl=10, clock=clock)
    await provider.resolve(None)
    clock.now += 11
    source.gate = anyio.Event()
    assert (await provider.resolve(None)).reveal() == K1  # a refresh starts, asks, hangs
    await until_fetched(source, 2)
    source.value = K2  # rotated meanwhile; the upstream refuses K1
    provider.invalidate()
    seen: list[str] = []

    async def mint() -> None:
        seen.append((await provider.resolve(None)).reveal())

    async with anyio.create_task_group() as tg:
        tg.start_soon(mint)
        await anyio.sleep(0.01)
        source.gate.set()
    assert seen == [K2]
    assert source.fetches == 3


async def test_cached_aclose_cancels_the_fetch_under_way() -> None:
    source = Source()
    source.gate = anyio.Event()
    provider = cached(source.fetch)
    async with anyio.create_task_group() as tg:

        async def mint() -> None:
            with pytest.raises(ApiKeyUnavailable):
                await provider.resolve(None)

        tg.start_soon(mint)
        await anyio.sleep(0.01)
        await provider.aclose()  # type: ignore[attr-defined]
    assert source.fetches == 1
    source.gate.set()  # closed, not broken: a later mint fetches again, lazily
    assert (await provider.resolve(None)).reveal() == K1
    assert source.fetches == 2


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_cached_refreshes_in_the_background_on_trio(anyio_backend: str) -> None:
    pytest.importorskip("trio")
    clock, source = Clock(), Source()
    provider = cached(source.fetch, ttl=10, clock=clock)
    assert (await provider.resolve(None)).reveal() == K1
    source.value = K2
    clock.now += 11
    assert (await provider.resolve(None)).reveal() == K1
    await eventually(provider, K2)


def test_cached_refuses_bad_arguments() -> None:
    async def fetch() -> str:
        return K1

    for ttl in (0, -1, float("nan"), "300"):
        with pytest.raises(ConfigurationError, match="ttl"):
            cached(fetch, ttl=ttl)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="timeout"):
        cached(fetch, timeout=0)
    with pytest.raises(ConfigurationError, match="async callable"):
        cached(K1)  # type: ignore[arg-type]
    assert repr(cached(fetch, ttl=5)).startswith("cached(")
    assert "fetch" in repr(cached(fetch, ttl=5))


# per_principal


async def test_per_principal_asks_the_callable_sync_or_async() -> None:
    asked: list[str | None] = []

    def pick(principal: Principal | None) -> str:
        asked.append(principal.id if principal else None)
        return K1 if principal is None else K2

    async def apick(principal: Principal | None) -> Secret:
        return Secret(K3)

    provider = per_principal(pick)
    assert (await provider.resolve(Principal(id="t1"))).reveal() == K2
    assert (await provider.resolve(None)).reveal() == K1
    assert asked == ["t1", None]
    assert (await per_principal(apick).resolve(None)).reveal() == K3
    assert repr(provider).startswith("per_principal(") and "pick" in repr(provider)


async def test_per_principal_checks_each_key() -> None:
    def pick(principal: Principal | None) -> str | None:
        return None if principal is None else "sk_orga_ai_has space"

    provider = per_principal(pick)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="must be a string"):
        await provider.resolve(None)
    with pytest.raises(ConfigurationError, match="white space"):
        await provider.resolve(Principal(id="t"))
    with pytest.raises(ConfigurationError, match="callable"):
        per_principal(K1)  # type: ignore[arg-type]


# every provider


def test_no_provider_shows_its_key(volume: SecretVolume) -> None:
    async def fetch() -> str:
        return K1

    def pick(principal: Principal | None) -> str:
        return K1

    providers = [
        StaticKey(K1),
        from_env(environ={"ORGA_API_KEY": K1}),
        from_file(volume.path),
        cached(fetch),
        per_principal(pick),
    ]
    for provider in providers:
        assert isinstance(provider, KeyProvider)
        assert_no_key_in(repr(provider), str(provider))
        assert "first0key0" not in repr(provider)
