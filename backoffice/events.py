"""Live events to the pages (PROTOCOL.md for the chat's), for every app: the typed event base, the group
names and the after-commit publisher.

The database is the truth and the channel layer a lossy hint: a client that misses an event catches up from
the database (the chat's ``resume``). Each payload is a pydantic model with ``extra="forbid"`` and a literal
``type`` (subclasses of ``Event``), so a typo fails a test instead of a browser. Apps publish from their
services with ``publish`` (after commit); the consumers relay what reaches their groups as it is. What a
socket's own call published (``collected``) the consumer sends from its event loop (``publish_now``):
straight to this loop's sockets, and to Redis for the other processes.

Groups are built from ids here, in one place: ``agent_group`` (every tab of one staff account),
``buyer_group`` (every tab of one buyer), ``shop_agents_group`` (every agent tab of a shop),
``shop_ops_group`` (every shop-operations page of a shop: the jobs' alerts).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid
import weakref
from collections.abc import Coroutine, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.db import transaction
from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

logger = logging.getLogger(__name__)


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # The consumer handler an event reaches: ``chat.event`` relays it to the page as it is; another name is
    # an instruction to the socket itself (``AccessChanged``).
    handler: ClassVar[str] = "chat.event"


class AccessChanged(Event):
    """To an account's sockets (``agent_group``): its sign-in or its rights changed (logout, disabled, IM
    removed). Each socket checks its session and account again and closes when they no longer allow it."""

    type: Literal["access_changed"] = "access_changed"
    handler: ClassVar[str] = "access.changed"  # AgentConsumer.access_changed


def agent_group(staff_id: int) -> str:
    return f"agent.{staff_id}"


def buyer_group(buyer_id: int) -> str:
    return f"buyer.{buyer_id}"


def shop_agents_group(shop_id: int) -> str:
    return f"shop.{shop_id}.agents"


def shop_ops_group(shop_id: int) -> str:
    return f"shop.{shop_id}.ops"


# An event on its way: the group, the channel layer's message ({"type": handler, "text": JSON}), the event.
Sent = tuple[str, dict[str, Any], Event]


def publish(sends: Iterable[tuple[str, Event]]) -> None:
    """Send each (group, event) once the current transaction commits (at once outside one), without waiting
    for the channel layer: the events go to this process's publisher thread, which sends batches in the
    order they were published, or, inside ``collected()``, to its list for the caller to send from the event
    loop (``publish_now``). A channel-layer failure is logged, never raised: the write has happened and
    clients resume from the database."""
    batch = encoded(sends)
    if batch:
        transaction.on_commit(lambda: _hand_over(batch))


def encoded(sends: Iterable[tuple[str, Event]]) -> list[Sent]:
    """Each (group, event) with its channel-layer message, for ``publish`` or, once committed, for
    ``publish_now`` (a write made on the event loop). An event sent to several groups is encoded once."""
    pairs = list(sends)  # holds the events, so their ids stay theirs
    texts: dict[int, str] = {}
    batch: list[Sent] = []
    for group, event in pairs:
        if id(event) not in texts:
            texts[id(event)] = event.model_dump_json()
        batch.append((group, {"type": event.handler, "text": texts[id(event)]}, event))
    return batch


_collecting = threading.local()


def _hand_over(batch: list[Sent]) -> None:
    sink: list[Sent] | None = getattr(_collecting, "sink", None)
    if sink is not None:
        sink += batch
    else:
        _publisher().submit([(group, payload) for group, payload, _event in batch])


@contextmanager
def collected() -> Iterator[list[Sent]]:
    """The events published (and committed) in this block, in order, kept for the caller instead of the
    publisher thread: a consumer calls a service in a worker thread inside this block and sends what it
    published from its event loop (``publish_now``), without a thread waiting for the GIL in between. If the
    block raises, what it had collected goes to the publisher thread as usual."""
    previous = getattr(_collecting, "sink", None)
    sink: list[Sent] = []
    _collecting.sink = sink
    try:
        yield sink
    except BaseException:
        if sink:
            _publisher().submit([(group, payload) for group, payload, _event in sink])
            sink.clear()
        raise
    finally:
        _collecting.sink = previous


def loop_origin() -> str:
    """This process's and event loop's mark on the events it publishes from the loop (``publish_now``)."""
    return f"{_PROCESS}:{id(asyncio.get_running_loop())}"


_PROCESS = uuid.uuid4().hex
_loop_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Redis[bytes]]]
_loop_clients = weakref.WeakKeyDictionary()


def loop_client(url: str) -> Redis[bytes]:
    """This event loop's client of the Redis at ``url``, made once a loop: the events published from the loop
    (and the publisher thread's own loop) and ``routing.limits`` share it. A client belongs to the loop it
    was made in, so each loop has its own."""
    clients = _loop_clients.setdefault(asyncio.get_running_loop(), {})
    if url not in clients:
        clients[url] = Redis.from_url(url)
    return clients[url]


async def publish_now(sends: list[Sent], skip: dict[int, str] | None = None) -> None:
    """Send collected events from the event loop: to this loop's sockets of each group directly (into their
    channel-layer queues, as if from Redis), except a socket ``skip`` names for the event (``id(event)`` ->
    channel name: the sender's own socket, which its ack answers), and to Redis for the other processes, as
    one pipeline, marked with ``loop_origin()`` so that this loop's sockets drop the copy coming back
    (``ChatConsumer.dispatch``). Another channel layer gets its own ``group_send``, skipping nobody. A
    channel-layer failure is logged, never raised (clients resume from the database)."""
    layer: Any = get_channel_layer()
    if layer is None or not sends:
        return
    skip = skip or {}
    if not _pipelined(layer):
        await _send_logged(_publish_round([(group, payload) for group, payload, _event in sends]), sends)
        return
    local = layer._get_layer()  # this loop's layer: its queues and group members
    origin = loop_origin()
    remote: list[tuple[str, dict[str, Any]]] = []
    encoded: dict[int, bytes] = {}
    for group, payload, event in sends:
        members = local.groups.get(layer._get_group_channel_name(group), ())
        if members:
            if id(payload) not in encoded:
                encoded[id(payload)] = layer.serialize(payload)
            for channel in members:
                queue = local.channels.get(channel)
                if queue is not None and channel != skip.get(id(event)):
                    queue.put_nowait(encoded[id(payload)])
        remote.append((group, {**payload, "origin": origin}))
    await _send_logged(_publish_round(remote), sends)


class ChatLayer(RedisPubSubChannelLayer):  # type: ignore[misc]  # channels_redis has no types
    """channels_redis' pub/sub layer (the settings' backend) whose loop layers drop the events this loop
    published itself (``publish_now``) as they come back from Redis, before they are queued: the loop's
    sockets had them directly. The process is subscribed to the groups of its own sockets, so every event
    of a chat between a buyer and an agent of one process came back once a group; each copy cost a queue,
    a wake-up of the socket's task and a decoding only for ``ChatConsumer.dispatch`` to drop it (a tenth
    of a daphne's time at 800 messages a second). Nothing else changes: what other processes publish, and
    what reaches a channel rather than a group, is queued as before."""

    def _get_layer(self) -> Any:
        local = super()._get_layer()
        if not getattr(local, "drops_own_events", False):
            for shard in local._shards:
                shard._receive_message = _others_only(shard._receive_message, self, loop_origin())
            local.drops_own_events = True
        return local


def _others_only(receive: Any, layer: ChatLayer, origin: str) -> Any:
    """A shard's ``_receive_message`` that leaves out the messages marked with ``origin``. Only a message
    whose bytes hold the mark is decoded to check it (the mark is random: a text cannot guess it)."""
    mark = origin.encode()

    def receive_others(message: Any) -> None:
        if message is not None and mark in message["data"]:
            try:
                if layer.deserialize(message["data"]).get("origin") == origin:
                    return
            except Exception:  # not ours to judge: queued as it came
                logger.debug("channel-layer message not decoded", exc_info=True)
        receive(message)

    return receive_others


async def _send_logged(sending: Coroutine[Any, Any, None], sends: list[Sent]) -> None:
    try:
        await sending
    except Exception:  # the channel layer is a hint; resume repairs what is lost
        logger.warning("channel layer unavailable; %d event(s) not broadcast", len(sends), exc_info=True)


def _pipelined(layer: Any) -> bool:
    """The layer is channels_redis' pub/sub layer on one Redis (our settings): events go as one pipeline."""
    config: Any = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
    hosts = config.get("hosts") or []
    return isinstance(layer, RedisPubSubChannelLayer) and len(hosts) == 1 and isinstance(hosts[0], str)


class Publisher:
    """One event loop thread per process with its own Redis connection for events. (``async_to_sync`` per
    call would start a loop, a thread and new connections every time: slower than the routing itself.)"""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._run, name="chat-events", daemon=True).start()
        self.ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.pending: asyncio.Queue[list[tuple[str, dict[str, Any]]]] = asyncio.Queue()
        self.ready.set()
        self.loop.run_until_complete(self._drain())

    async def _drain(self) -> None:
        while True:
            # Every batch waiting now goes out in one round, in publish order.
            sends = await self.pending.get()
            while not self.pending.empty():
                sends += self.pending.get_nowait()
            try:
                await _publish_round(sends)
            except Exception:  # the channel layer is a hint; resume repairs what is lost
                logger.warning(
                    "channel layer unavailable; %d event(s) not broadcast", len(sends), exc_info=True
                )

    def submit(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        self.loop.call_soon_threadsafe(self.pending.put_nowait, batch)


async def _publish_round(sends: list[tuple[str, dict[str, Any]]]) -> None:
    """Publish (group, payload) pairs in order, as one Redis pipeline: one round trip however many there are.

    With channels_redis' pub/sub layer on one Redis (our settings), ``group_send`` is one PUBLISH on the
    group's Redis channel, but one round trip per event and one event at a time per connection: under load
    that, not the database, capped the messages a process could deliver. The channel names and the encoding
    are the layer's own (``_get_group_channel_name`` and ``serialize``), so its subscribers receive these as
    if the layer had sent them; ``tests/routing/test_consumers.py`` fails if that ever stops being true. Any
    other layer (or several Redis hosts) gets its own ``group_send``, one event after another."""
    layer: Any = get_channel_layer()
    if layer is None or not sends:
        return
    if not _pipelined(layer):
        for group, payload in sends:
            await layer.group_send(group, payload)
        return
    config: Any = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    async with loop_client(config["hosts"][0]).pipeline(transaction=False) as pipe:
        for group, payload in sends:
            pipe.publish(layer._get_group_channel_name(group), layer.serialize(payload))
        await pipe.execute()


_current: Publisher | None = None
_lock = threading.Lock()


def _publisher() -> Publisher:
    global _current
    with _lock:
        if _current is None or _current.pid != os.getpid():  # a forked worker needs its own thread
            _current = Publisher()
        return _current
