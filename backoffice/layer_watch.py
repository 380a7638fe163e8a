"""The channel layer's Redis, watched from each event loop that holds sockets (issue 18, fault 3).

channels_redis' pub/sub layer reconnects by itself after Redis goes away, but what was published in the
gap is gone, and its subscriber came back late or not at all (after a Redis restart no event reached the
other process again: tests/faults/test_procs_redis.py). So every LAYER_WATCH_SECONDS the loop asks Redis
for its ``run_id``; when a check failed or the ``run_id`` changed (a restart, a failover), the loop rebuilds
its layer connections (a fresh client and subscription for every group it holds) and closes every watched
socket with 4012 (an application code: daphne does not send 1012, "service restart"): the pages reconnect
with backoff and resume from the last seq they saw (routing/PROTOCOL.md), so whatever the gap swallowed
comes from the database. Sockets register with ``watch().add``; the task stops when the loop's last watched
socket closes."""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, Protocol

from channels.layers import get_channel_layer
from django.conf import settings

from backoffice.events import loop_client

logger = logging.getLogger(__name__)
CLOSE_LAYER_LOST = 4012  # events may have been missed: reconnect and resume (daphne refuses 1012)


class Watched(Protocol):
    async def layer_lost(self) -> None: ...


class LayerWatch:
    """The sockets of one event loop and the task that checks their Redis."""

    def __init__(self) -> None:
        self.sockets: weakref.WeakSet[Any] = weakref.WeakSet()
        self.task: asyncio.Task[None] | None = None
        self.run_id: str | None = None

    def add(self, consumer: Watched) -> None:
        self.sockets.add(consumer)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._watch())

    def discard(self, consumer: Watched) -> None:
        self.sockets.discard(consumer)
        if not self.sockets and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _watch(self) -> None:
        failed, first = False, self.run_id is None
        while True:
            if not first:
                await asyncio.sleep(settings.LAYER_WATCH_SECONDS)
            first = False
            try:
                run_id = await _run_id()
            except Exception:
                if not failed:
                    logger.warning("channel layer Redis unreachable", exc_info=True)
                failed = True
                continue
            lost = failed or (self.run_id is not None and run_id != self.run_id)
            self.run_id, failed = run_id, False
            if lost:
                logger.warning("channel layer Redis came back (restarted or unreachable): resubscribing")
                await self._recover()

    async def _recover(self) -> None:
        try:
            await rebuild_layer()
        except Exception:
            logger.warning("could not rebuild the channel layer connections", exc_info=True)
        for consumer in list(self.sockets):
            try:
                await consumer.layer_lost()
            except Exception:
                logger.warning("could not close a socket after the Redis loss", exc_info=True)


async def _run_id() -> str:
    config: Any = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
    host = (config.get("hosts") or [None])[0]
    if not isinstance(host, str):
        return ""
    info: Any = await loop_client(host).info("server")
    return str(info.get("run_id", ""))


async def rebuild_layer() -> None:
    """This loop's pub/sub layer with fresh connections: every shard's client and subscriber are dropped
    and every channel it was subscribed to is subscribed again (channels_redis 4.x internals: its
    ``RedisSingleShardConnection``; another layer is left alone)."""
    layer: Any = get_channel_layer()
    local = layer._get_layer() if hasattr(layer, "_get_layer") else None
    for shard in getattr(local, "_shards", []):
        subscribed = set(shard._subscribed_to)
        await shard.flush()  # cancels the receiver, closes the clients, forgets the subscriptions
        for channel in sorted(subscribed):
            await shard.subscribe(channel)


_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LayerWatch] = weakref.WeakKeyDictionary()


def watch() -> LayerWatch:
    """This event loop's watch."""
    loop = asyncio.get_running_loop()
    if loop not in _watches:
        _watches[loop] = LayerWatch()
    return _watches[loop]
