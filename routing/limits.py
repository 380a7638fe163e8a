"""Limits on what one buyer or one agent may ask of the chat sockets, across every socket and process: kept in
the channel layer's Redis, so ten sockets on one token share one budget.

- ``allow(kind, who, rate, burst)``: a rate limit (GCRA, the token bucket as one timestamp per key): ``rate``
  a second sustained, bursts up to ``burst``. The consumers limit a buyer's sends (the documented 5 a second)
  and everyone's ``resume`` and ``ping`` frames (``routing/PROTOCOL.md``).
- ``open_socket`` / ``touch_socket`` / ``close_socket``: how many sockets one buyer holds open, at most
  ``cap``. Each socket is a member of a sorted set scored by when it was last seen (its connect, then its
  pings); a member not seen for ``SOCKET_TTL`` seconds no longer counts, so the sockets of a process that
  died without closing them stop counting by themselves.

Redis' own clock (``TIME``) is used, so processes on different machines agree. When Redis cannot be reached
the limits let everything through (logged): they protect the server, and a Redis restart must not stop
every chat; the database, not Redis, holds the messages.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from django.conf import settings
from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

SOCKET_TTL = 300  # seconds: a socket that neither pinged nor closed for this long no longer counts

# KEYS[1] the key; ARGV: interval (ms between tokens), tolerance (ms: (burst - 1) x interval). The key holds
# the theoretical arrival time (ms) of the next request; a request more than `tolerance` early is refused.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tolerance then return 0 end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil(tat + interval - now) + 1000)
return 1
"""

# KEYS[1] the buyer's sockets; ARGV: member, cap, ttl (s). 1 when the socket is counted, 0 when over the cap.
_OPEN = """
local t = redis.call('TIME')
local now = tonumber(t[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

_TOUCH = """
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], 'XX', tonumber(t[1]), ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[str, Redis[bytes]]]
_clients = weakref.WeakKeyDictionary()


def _layer_config() -> tuple[str, str]:
    """The channel layer's Redis and key prefix (a test's layer has a prefix of its own)."""
    config: Any = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
    hosts = config.get("hosts") or [settings.CHANNEL_REDIS_HOST]
    host = hosts[0] if isinstance(hosts[0], str) else settings.CHANNEL_REDIS_HOST
    return host, str(config.get("prefix", "asgi"))


def _client() -> tuple[Redis[bytes], str]:
    """This event loop's client of the layer's Redis, and the prefix for keys."""
    host, prefix = _layer_config()
    loop = asyncio.get_running_loop()
    cached = _clients.get(loop)
    if cached is None or cached[0] != host:
        cached = (host, Redis.from_url(host))
        _clients[loop] = cached
    return cached[1], f"{prefix}limit:"


async def _run(script: str, key: str, *args: int | float | str) -> int:
    client, prefix = _client()
    try:
        result: Any = await client.eval(script, 1, prefix + key, *args)  # type: ignore[no-untyped-call]
    except (RedisError, OSError):
        logger.warning("chat limits unavailable (Redis); letting %s through", key, exc_info=True)
        return 1
    return int(result)


async def allow(kind: str, who: str, *, rate: float, burst: int) -> bool:
    """Whether ``who`` (e.g. ``buyer:40``) may do one more ``kind`` now."""
    interval = 1000.0 / rate
    return bool(await _run(_GCRA, f"{kind}:{who}", interval, interval * (burst - 1)))


async def open_socket(who: str, channel: str, *, cap: int) -> bool:
    """Count one more socket of ``who``; False (and not counted) when ``who`` already holds ``cap``."""
    return bool(await _run(_OPEN, f"sockets:{who}", channel, cap, SOCKET_TTL))


async def touch_socket(who: str, channel: str) -> None:
    """The socket is still there (a ping): it keeps counting."""
    await _run(_TOUCH, f"sockets:{who}", channel, SOCKET_TTL)


async def close_socket(who: str, channel: str) -> None:
    client, prefix = _client()
    try:
        await client.zrem(f"{prefix}sockets:{who}", channel)
    except (RedisError, OSError):
        logger.warning("chat limits unavailable (Redis); socket %s left to expire", channel, exc_info=True)
