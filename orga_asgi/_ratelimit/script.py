"""One Lua script run with ``EVALSHA`` on a plain redis-py asyncio client, with less CPU per call.

Every request runs the acquire script once per window checked, so its client-side cost is on
the path of every mint. Through redis-py's ``Script`` (``execute_command``) one call cost
~60 µs of CPU (redis-py 7.4, uvloop, loopback; a bare round trip on one connection ~20 µs): a
pool lock on checkout and again on return, the retry wrapper and its closure, observability
hooks, response callbacks. :class:`ScriptRunner` keeps a stack of idle connections taken from
the client's own pool (so ``aclose()`` of the client still closes them) and talks to each with
the connection's ``read_response``, packing the command itself (the script's constant parts
once) and writing it to the connection's stream: ~20 µs.

Kept from the client's behaviour: the connection's socket timeouts, one immediate retry on a
dropped connection (a stale pooled one after a Redis restart; redis-py disconnects it and the
retry reconnects), ``EVAL`` when the server lost the script (``NOSCRIPT``, after a restart), a
connection that failed mid-reply is never reused while connected (redis-py disconnects it on
any error, a cancellation included; it reconnects on its next use).

Only for a plain client on redis-py's own ``ConnectionPool``: cluster and sentinel clients
route and fail over per command, so they keep ``Script`` (:mod:`.backend` picks).
"""

from __future__ import annotations

import asyncio
from hashlib import sha1
from typing import Any

import redis
from redis.asyncio.connection import ConnectionPool
from redis.exceptions import NoScriptError, ResponseError

__all__ = ["ScriptRunner"]

_IDLE = 64  # idle connections kept here at most; more go back to the pool


class ScriptRunner:
    """Run one script on ``client``'s connections.

    Args:
        client: a ``redis.asyncio.Redis`` on a plain ``ConnectionPool``.
        source: the script's Lua source.
    """

    __slots__ = ("_argv", "_eval", "_evalsha", "_idle", "_pool")

    def __init__(self, client: Any, source: bytes) -> None:
        self._pool: Any = client.connection_pool
        sha = sha1(source, usedforsecurity=False).hexdigest().encode()
        self._evalsha = _bulk(b"EVALSHA") + _bulk(sha)
        self._eval = _bulk(b"EVAL") + _bulk(source)
        self._argv: dict[tuple[int, ...], bytes] = {}  # packed once per window
        self._idle: list[Any] = []

    @staticmethod
    def supports(client: Any) -> bool:
        """Whether ``client`` is a plain client on redis-py's own connection pool."""
        return type(getattr(client, "connection_pool", None)) is ConnectionPool

    async def __call__(self, keys: list[str], args: tuple[int, ...]) -> Any:
        """``EVALSHA`` with ``keys`` (ASCII, as every key of the gate is) and ``args``.

        Raises:
            redis.RedisError: the server failed or did not answer in time.
        """
        argv = self._argv.get(args)
        if argv is None:
            argv = self._argv[args] = b"".join(_bulk(b"%d" % arg) for arg in args)
        body = b"".join([_bulk(b"%d" % len(keys)), *(_bulk(k.encode()) for k in keys), argv])
        count = b"*%d\r\n" % (3 + len(keys) + len(args))
        idle = self._idle
        conn = idle.pop() if idle else await self._pool.get_connection()
        try:
            try:
                reply = await self._run(conn, count, body)
            except redis.ConnectionError:
                await conn.disconnect()
                reply = await self._run(conn, count, body)
        except BaseException as exc:
            # A whole error reply leaves the connection in step; any other failure has
            # disconnected it (it reconnects on its next use). One still connected after
            # anything else is out of step: left to the pool, which closes it at aclose().
            if isinstance(exc, ResponseError) or not conn.is_connected:
                idle.append(conn)
            raise
        if len(idle) < _IDLE:
            idle.append(conn)
        else:
            await self._pool.release(conn)
        return reply

    async def _run(self, conn: Any, count: bytes, body: bytes) -> Any:
        try:
            await _send(conn, count + self._evalsha + body)
            return await conn.read_response()
        except NoScriptError:
            # The server restarted (or flushed its scripts): EVAL also caches it again.
            await _send(conn, count + self._eval + body)
            return await conn.read_response()


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


async def _send(conn: Any, packed: bytes) -> None:
    """Write one packed command: straight into the connection's stream writer when it is
    open (``send_packed_command`` wraps every write in ``asyncio.wait_for``, a task per
    call on Python < 3.12), through ``send_packed_command`` otherwise (it connects)."""
    writer = getattr(conn, "_writer", None) if conn.is_connected else None
    if not isinstance(writer, asyncio.StreamWriter):
        await conn.send_packed_command(packed, check_health=False)
        return
    writer.write(packed)
    if writer.transport.get_write_buffer_size():
        # The socket did not take it all (rare for a few hundred bytes): wait for it, with
        # the connection's own timeout and error handling.
        await conn.send_packed_command(b"", check_health=False)
