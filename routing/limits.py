"""Limits on what one buyer or one agent may ask of the chat sockets, across every socket and process: kept in
the channel layer's Redis, so ten sockets on one token share one budget.

- ``allow(kind, who, rate, burst)``: a rate limit (GCRA, the token bucket as one timestamp per key): ``rate``
  a second sustained, bursts up to ``burst``. The consumers limit a buyer's sends (the documented 5 a second)
  and everyone's ``resume`` and ``ping`` frames (``routing/PROTOCOL.md``). The checks of one process go to
  Redis in batches (one script call for all that arrived meanwhile): a check per buyer message, one by
  one, had cost the live-chat benchmark a third of its throughput.
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

from backoffice import events

logger = logging.getLogger(__name__)

SOCKET_TTL = 300  # seconds: a socket that neither pinged nor closed for this long no longer counts

# KEYS: the keys to spend one request of, in order (a key may repeat); ARGV: per key, its interval (ms
# between requests) and tolerance (ms: (burst - 1) x interval). Each key holds the theoretical arrival time
# (ms) of its next request; a request more than `tolerance` early is refused. One 1 or 0 per key.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  if tat - now > tolerance then
    out[i] = 0
  else
    redis.call('SET', key, tat + interval, 'PX', math.ceil(tat + interval - now) + 1000)
    out[i] = 1
  end
end
return out
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

Check = tuple[str, float, float, "asyncio.Future[bool]"]  # key, interval, tolerance, the answer


class _Loop:
    """One event loop's Redis client and its rate checks, sent in batches: checks asked while one batch is
    on its way go together in the next (one script call however many), as buyer sends are stored in
    batches (``routing.consumers.GroupCommit``); a lone check waits for nobody."""

    LIMIT = 500

    def __init__(self, host: str) -> None:
        self.host = host
        self.redis: Redis[bytes] = events.loop_client(host)  # the loop's client, shared with the publishing
        self.gcra: Any = self.redis.register_script(_GCRA)
        self.waiting: list[Check] = []
        self.sender: asyncio.Task[None] | None = None

    async def allow(self, key: str, interval: float, tolerance: float) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.waiting.append((key, interval, tolerance, future))
        if self.sender is None:
            self.sender = asyncio.create_task(self._send())
        return await future

    async def _send(self) -> None:
        batch: list[Check] = []
        try:
            while self.waiting:
                batch, self.waiting = self.waiting[: self.LIMIT], self.waiting[self.LIMIT :]
                args = [value for _key, interval, tolerance, _f in batch for value in (interval, tolerance)]
                try:
                    results = await self.gcra(keys=[key for key, *_rest in batch], args=args)
                except (RedisError, OSError):
                    logger.warning(
                        "chat limits unavailable (Redis); letting %d through", len(batch), exc_info=True
                    )
                    results = [1] * len(batch)
                for (*_check, future), allowed in zip(batch, results, strict=True):
                    if not future.done():  # the socket may have closed meanwhile
                        future.set_result(bool(allowed))
        finally:
            for *_check, future in [*batch, *self.waiting]:  # cancelled (the server stops) or a bug
                if not future.done():  # nobody waits forever
                    future.cancel()
            self.waiting, self.sender = [], None


_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Loop] = weakref.WeakKeyDictionary()


def _layer_config() -> tuple[str, str]:
    """The channel layer's Redis and key prefix (a test's layer has a prefix of its own)."""
    config: Any = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
    hosts = config.get("hosts") or [settings.CHANNEL_REDIS_HOST]
    host = hosts[0] if isinstance(hosts[0], str) else settings.CHANNEL_REDIS_HOST
    return host, str(config.get("prefix", "asgi"))


def _here() -> tuple[_Loop, str]:
    """This event loop's client of the layer's Redis, and the prefix for keys."""
    host, prefix = _layer_config()
    loop = asyncio.get_running_loop()
    here = _loops.get(loop)
    if here is None or here.host != host:
        here = _loops[loop] = _Loop(host)
    return here, f"{prefix}limit:"


async def _run(script: str, key: str, *args: int | float | str) -> int:
    here, prefix = _here()
    try:
        result: Any = await here.redis.eval(script, 1, prefix + key, *args)  # type: ignore[no-untyped-call]
    except (RedisError, OSError):
        logger.warning("chat limits unavailable (Redis); letting %s through", key, exc_info=True)
        return 1
    return int(result)


async def allow(kind: str, who: str, *, rate: float, burst: int) -> bool:
    """Whether ``who`` (e.g. ``buyer:40``) may do one more ``kind`` now."""
    here, prefix = _here()
    interval = 1000.0 / rate
    return await here.allow(f"{prefix}{kind}:{who}", interval, interval * (burst - 1))


async def open_socket(who: str, channel: str, *, cap: int) -> bool:
    """Count one more socket of ``who``; False (and not counted) when ``who`` already holds ``cap``."""
    return bool(await _run(_OPEN, f"sockets:{who}", channel, cap, SOCKET_TTL))


async def touch_socket(who: str, channel: str) -> None:
    """The socket is still there (a ping): it keeps counting."""
    await _run(_TOUCH, f"sockets:{who}", channel, SOCKET_TTL)


async def close_socket(who: str, channel: str) -> None:
    here, prefix = _here()
    try:
        await here.redis.zrem(f"{prefix}sockets:{who}", channel)
    except (RedisError, OSError):
        logger.warning("chat limits unavailable (Redis); socket %s left to expire", channel, exc_info=True)
