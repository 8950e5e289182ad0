"""The one module that knows ``limits``: its parser, URI scheme, storages and key layout.

Everything else in the package speaks in plain values (amounts, seconds, strings), so a new
major of ``limits`` (capped below it in ``pyproject.toml``) is reviewed here and nowhere else:

* rate limit items: built from an already validated, canonical spec (the gate parses what
  operators write itself, in linear time: limits' own expression backtracks for seconds on
  a few hundred spaces);
* storage URIs: limits' own parser, so validation agrees with the storage that will use it;
* storages: limits' ``RedisStorage`` / ``RedisClusterStorage`` / ``RedisSentinelStorage`` with
  ``implementation="redispy"``, subclassed to declare only redis-py;
* the key layout: derived from limits' own ``key_for``, ``prefixed_key`` and sliding window key
  functions, once per window, so limits' strategies read the very windows the gate writes;
* the Lua scripts (``lua/*.lua``) run on the storage's own redis-py client (by
  :class:`~.script.ScriptRunner` on a plain client, by redis-py's ``Script`` otherwise).

Importing this module does not import redis-py (limits imports client libraries lazily).
"""

from __future__ import annotations

import re
from contextlib import suppress
from functools import cache
from importlib.resources import files
from typing import Any, NamedTuple, cast

import limits

# limits' own URI parser (private): the storage parses the URI with it, so validate with it.
from limits._storage_scheme import parse_storage_uri
from limits.aio.storage import RedisClusterStorage, RedisSentinelStorage, RedisStorage
from limits.aio.storage.redis.redispy import RedispyBridge
from limits.errors import ConfigurationError as LimitsConfigurationError
from packaging.version import Version

__all__ = ["LimitShape", "LimitsStorage", "ParsedURI", "limit_shape", "parse_uri"]

_REDIS_PY = Version("5.2.0")  # limits' own minimum for implementation="redispy"
_MARK = "\x00"  # stands for the identifier while the key layout is derived
_GLOB = re.compile(r"([*?\[\]\\])")


class LimitShape(NamedTuple):
    """What the gate needs of one limits item: its text and its window length."""

    spec: str  # "5 per 1 minute", limits' own rendering, for reprs
    expiry: int  # seconds
    unit: str  # "minute"


def limit_shape(amount: int, multiples: int, unit: str) -> LimitShape | None:
    """limits' view of ``amount`` per ``multiples`` ``unit``; ``None`` for an unknown unit."""
    try:
        item = limits.parse(f"{amount}/{multiples} {unit}")
    except ValueError:
        return None
    return LimitShape(str(item), item.get_expiry(), item.GRANULARITY.name)


class ParsedURI(NamedTuple):
    """What validation needs of a storage URI."""

    has_locations: bool
    path: str
    password: str


def parse_uri(uri: str) -> ParsedURI | None:
    """Parse an ``async+redis...://`` URI as limits will; ``None`` when it cannot."""
    try:
        parsed = parse_storage_uri(uri)
    except (LimitsConfigurationError, ValueError):
        return None
    return ParsedURI(bool(parsed.locations), parsed.path or "", parsed.password or "")


@cache
def script_source(sliding: bool) -> str:
    """The Lua acquire script for one strategy, from ``lua/`` in this package."""
    name = "sliding_window.lua" if sliding else "moving_window.lua"
    return files(__package__).joinpath(f"lua/{name}").read_text("utf-8")


# limits' storages import *every* client library they know (coredis, valkey, redis-py) when
# instantiated; with coredis installed that is two more seconds on the first request. These
# subclasses declare the one library used here. (No STORAGE_SCHEME: they register nothing.)
class _Basic(RedisStorage):
    DEPENDENCIES = {"redis": _REDIS_PY}  # noqa: RUF012 - overrides limits' attribute


class _Cluster(RedisClusterStorage):
    DEPENDENCIES = {"redis": _REDIS_PY}  # noqa: RUF012 - overrides limits' attribute


class _Sentinel(RedisSentinelStorage):
    DEPENDENCIES = {"redis": _REDIS_PY}  # noqa: RUF012 - overrides limits' attribute


_STORAGES: dict[str, type[RedisStorage]] = {"cluster": _Cluster, "sentinel": _Sentinel}


class LimitsStorage:
    """One limits storage, its redis-py client, the acquire script and the key templates.

    Args:
        uri: the validated ``async+redis...://`` URI.
        key_prefix: limits' ``key_prefix``.
        sliding: sliding window counter (two keys per window) instead of moving window.
        windows: per namespace, ``(amount, multiples, unit)`` of each window, in check order.
        options: redis-py connection options (timeouts, retry).
    """

    __slots__ = ("_client", "_run", "_storage", "_templates")

    def __init__(
        self,
        uri: str,
        *,
        key_prefix: str,
        sliding: bool,
        windows: dict[str, tuple[tuple[int, int, str], ...]],
        options: dict[str, Any],
    ) -> None:
        scheme = uri.partition("://")[0]
        kind = _STORAGES.get(scheme.rpartition("+")[2], _Basic)
        if kind is _Sentinel:
            # The sentinels themselves get the same short timeouts: with redis-py's defaults
            # an unreachable sentinel holds the request for about seven seconds.
            options = {**options, "sentinel_kwargs": dict(options)}
        storage = kind(uri, implementation="redispy", key_prefix=key_prefix, **options)
        self._storage = storage
        self._client: Any = cast(RedispyBridge, storage.bridge).get_connection()
        from .script import ScriptRunner  # imports redis-py: only once a storage is built

        source = script_source(sliding).encode()
        if ScriptRunner.supports(self._client):
            self._run: Any = ScriptRunner(self._client, source)
        else:  # cluster, sentinel: redis-py routes and fails over per command
            script = self._client.register_script(source)
            self._run = lambda keys, args: script(keys=keys, args=args)
        self._templates = {
            namespace: tuple(_template(storage, namespace, w, sliding) for w in specs)
            for namespace, specs in windows.items()
        }

    @property
    def client(self) -> Any:
        """The storage's own redis-py client."""
        return self._client

    async def acquire(
        self, namespace: str, index: int, ident: str, limit: int, expiry: int
    ) -> list[Any]:
        """Run the acquire script for window ``index`` of ``namespace``; its raw reply."""
        keys = [head + ident + tail for head, tail in self._templates[namespace][index]]
        return cast("list[Any]", await self._run(keys, (limit, expiry)))

    async def reset(self) -> int:
        """Delete every key of this storage's windows (all identifiers); the count deleted."""
        deleted = 0
        for templates in self._templates.values():
            for template in templates:
                for head, tail in template:
                    pattern = f"{_glob_escape(head)}*{_glob_escape(tail)}"
                    batch = [key async for key in self._client.scan_iter(match=pattern)]
                    for start in range(0, len(batch), 500):
                        # Cluster clients split a multi-key DEL by slot themselves.
                        deleted += int(await self._client.delete(*batch[start : start + 500]))
        return deleted

    async def aclose(self) -> None:
        """Close every client of the storage: master, replica, sentinels. Never raises."""
        bridge: Any = self._storage.bridge
        clients = [bridge.storage, getattr(bridge, "storage_replica", None)]
        sentinel = getattr(bridge, "sentinel", None)
        clients.extend(getattr(sentinel, "sentinels", ()))
        for client in clients:
            if client is not None:
                with suppress(Exception):  # a broken connection must not fail shutdown
                    await client.aclose()


def _glob_escape(text: str) -> str:
    return _GLOB.sub(r"\\\1", text)


def _template(
    storage: RedisStorage, namespace: str, window: tuple[int, int, str], sliding: bool
) -> tuple[tuple[str, str], ...]:
    amount, multiples, unit = window
    item = limits.parse(f"{amount}/{multiples} {unit}")
    key = item.key_for(namespace, _MARK)
    if sliding:
        # Order of the script's KEYS: the previous window, then the current one.
        keys = [storage._previous_window_key(key), storage._current_window_key(key)]
    else:
        keys = [key]
    prefixed = [cast(RedispyBridge, storage.bridge).prefixed_key(k) for k in keys]
    return tuple(cast("tuple[str, str]", tuple(k.split(_MARK))) for k in prefixed)
