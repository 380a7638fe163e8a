"""The chat consumers end to end with WebsocketCommunicator on the Redis channel layer: authentication,
access checks, send / ack / broadcast, resend dedupe, resume after a gap, bad frames, throttling, presence."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any, Literal

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.core import signing
from django.db import OperationalError, transaction
from django.db.models import F

from backoffice.events import Event, publish, shop_agents_group
from backoffice.models import Buyer, Shop, StaffAccount
from routing import consumers, events, presence, services, tokens
from routing.models import AgentState, ArrivalReason, Conversation, Message, RoutingSettings
from routing.reception import Received, receiver
from tests.backoffice import factories
from tests.routing.sockets import (
    TIMEOUT,
    agent,
    agent_socket,
    buyer,
    buyer_socket,
    connect,
    frames_until,
    layer,
    until,
    use_layer,
)

__all__ = ["agent", "buyer", "layer"]  # fixtures

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("layer")]


# --- authentication --------------------------------------------------------------------------------------


async def test_agent_without_a_session_is_refused() -> None:
    comm = await agent_socket(None)
    assert await comm.connect(timeout=TIMEOUT) == (False, 4401)


async def test_agent_without_im_permission_is_refused(shop_a: Shop) -> None:
    staff = await database_sync_to_async(factories.staff)(shop_a, "no_im", "运营", im=False)
    comm = await agent_socket(staff)
    assert await comm.connect(timeout=TIMEOUT) == (False, 4403)


async def test_buyer_with_a_bad_or_expired_token_is_refused(buyer: Buyer, settings: Any) -> None:
    token = await database_sync_to_async(tokens.buyer_token)(buyer)
    assert await buyer_socket("nonsense").connect(timeout=TIMEOUT) == (False, 4401)
    assert await buyer_socket(token[:-2] + "xx").connect(timeout=TIMEOUT) == (False, 4401)
    forged = signing.dumps({"shop": buyer.shop_id, "buyer": buyer.pk}, salt="another-salt")
    assert await buyer_socket(forged).connect(timeout=TIMEOUT) == (False, 4401)
    settings.BUYER_TOKEN_MAX_AGE = -1  # every token is expired
    assert await buyer_socket(token).connect(timeout=TIMEOUT) == (False, 4401)


# --- send, ack, broadcast ----------------------------------------------------------------------------------


async def test_buyer_and_agent_talk_both_ways_with_acks_and_timer(agent: StaffAccount, buyer: Buyer) -> None:
    agent_ws = await agent_socket(agent)
    hello = await connect(agent_ws)
    assert (hello["staff_id"], hello["status"]) == (agent.pk, "online")
    buyer_ws = buyer_socket(await database_sync_to_async(tokens.buyer_token)(buyer))
    assert (await connect(buyer_ws))["conversation"] is None

    await buyer_ws.send_json_to({"type": "send", "client_msg_id": "b-1", "text": "什么时候发货？"})
    ack = await until(buyer_ws, "ack")
    assert (ack["client_msg_id"], ack["seq"]) == ("b-1", 1)
    assigned = await until(agent_ws, "assigned")
    assert (assigned["conversation"], assigned["buyer_name"]) == (ack["conversation"], "买家甲")
    served = await until(buyer_ws, "assigned")
    assert served["agent_name"] == "售前-小美"

    conv = ack["conversation"]
    await agent_ws.send_json_to({"type": "resume", "after": {str(conv): 0}})
    replayed = await frames_until(agent_ws, "resumed")
    assert [f["text"] for f in replayed if f["type"] == "message"] == ["什么时候发货？"]

    await agent_ws.send_json_to(
        {"type": "send", "conversation": conv, "client_msg_id": "a-1", "text": "亲，今天发货"}
    )
    agent_ack = await until(agent_ws, "ack")
    assert agent_ack["seq"] == 2
    timer = await until(agent_ws, "timer", conversation=conv)
    assert timer["waiting_since"] is None  # the reply stopped the timer
    reply = await until(buyer_ws, "message", seq=2)
    assert (reply["sender"], reply["agent_name"], reply["text"]) == ("agent", "售前-小美", "亲，今天发货")

    await buyer_ws.send_json_to({"type": "send", "client_msg_id": "b-2", "text": "好的"})
    restarted = await until(agent_ws, "timer", conversation=conv)
    assert restarted["waiting_since"] is not None  # the buyer's new message restarts it
    await agent_ws.disconnect()
    await buyer_ws.disconnect()


async def test_the_senders_socket_gets_its_ack_and_no_echo_its_other_tabs_get_the_message(
    agent: StaffAccount, buyer: Buyer
) -> None:
    """Fewer frames: the ack answers the sender's own socket, so the message event goes to every other
    socket of the conversation (the sender's other tabs too), not back to it."""
    conv, _decision = await database_sync_to_async(services.request_human)(buyer=buyer)
    token = await database_sync_to_async(tokens.buyer_token)(buyer)
    buyer_tabs = [buyer_socket(token), buyer_socket(token)]
    agent_tabs = [await agent_socket(agent), await agent_socket(agent)]
    for ws in [*buyer_tabs, *agent_tabs]:
        await connect(ws)
    talk: list[tuple[list[WebsocketCommunicator], WebsocketCommunicator, dict[str, Any]]] = [
        (buyer_tabs, agent_tabs[0], {"type": "send", "client_msg_id": "b-1", "text": "在吗"}),
        (
            agent_tabs,
            buyer_tabs[0],
            {"type": "send", "client_msg_id": "a-1", "text": "在的", "conversation": conv.pk},
        ),
    ]
    for (sender, other), peer, frame in talk:  # each tab list: the sender, then its other tab
        await sender.send_json_to(frame)
        ack = await until(sender, "ack")
        assert ack["client_msg_id"] == frame["client_msg_id"] and ack["created_at"]
        for ws in (other, peer):  # the other tab of the sender and the other end get the message...
            assert (await until(ws, "message", client_msg_id=frame["client_msg_id"]))["text"] == frame["text"]
        await sender.send_json_to({"type": "ping"})  # ...and by now the sender's socket would have it too
        assert "message" not in [f["type"] for f in await frames_until(sender, "pong")]
    for ws in [*buyer_tabs, *agent_tabs]:
        await ws.disconnect()


async def test_an_event_this_loop_sent_directly_is_dropped_when_it_comes_back_from_redis(
    buyer: Buyer,
) -> None:
    """``events.publish_now`` hands an event to this loop's sockets directly and to Redis for the other
    processes, marked with the loop's origin: the copy that comes back is not relayed a second time."""
    ws = buyer_socket(await database_sync_to_async(tokens.buyer_token)(buyer))
    await connect(ws)
    group = events.buyer_group(buyer.pk)
    layer: Any = get_channel_layer()
    await layer.group_send(
        group, {"type": "chat.event", "text": '{"type":"x1"}', "origin": events.loop_origin()}
    )
    await layer.group_send(
        group, {"type": "chat.event", "text": '{"type":"x2"}', "origin": "another process"}
    )
    await layer.group_send(group, {"type": "chat.event", "text": '{"type":"x3"}'})
    assert [f["type"] for f in await frames_until(ws, "x3")] == ["x2", "x3"]
    await ws.disconnect()


async def test_the_layer_drops_this_loops_own_events_before_a_socket_wakes_for_them(
    buyer: Buyer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settings' layer (``events.ChatLayer``) leaves the copy that comes back out of the sockets'
    queues: no socket task is woken to decode and drop it."""
    reached: list[dict[str, Any]] = []
    dispatch = consumers.ChatConsumer.dispatch

    async def recording(self: consumers.ChatConsumer, message: dict[str, Any]) -> None:
        reached.append(message)
        await dispatch(self, message)

    monkeypatch.setattr(consumers.ChatConsumer, "dispatch", recording)
    ws = buyer_socket(await database_sync_to_async(tokens.buyer_token)(buyer))
    await connect(ws)
    group = events.buyer_group(buyer.pk)
    layer: Any = get_channel_layer()
    own = events.loop_origin()
    await layer.group_send(group, {"type": "chat.event", "text": '{"type":"x1"}', "origin": own})
    await layer.group_send(group, {"type": "chat.event", "text": f'{{"type":"x2","t":"{own}"}}'})
    assert [f["type"] for f in await frames_until(ws, "x2")] == ["x2"]  # the mark in a text is no origin
    assert [m.get("origin") for m in reached if m["type"] == "chat.event"] == [None]
    await ws.disconnect()


async def test_events_also_reach_sockets_through_the_core_redis_layer(
    agent: StaffAccount, buyer: Buyer, redis_url: str, settings: Any
) -> None:
    """Our settings use the pub/sub layer, whose group sends the publisher pipelines; another layer gets
    its own group_send (routing.events._publish_round)."""
    use_layer(settings, "channels_redis.core.RedisChannelLayer", redis_url)
    await database_sync_to_async(services.request_human)(buyer=buyer)
    agent_ws = await agent_socket(agent)
    await connect(agent_ws)
    buyer_ws = buyer_socket(await database_sync_to_async(tokens.buyer_token)(buyer))
    await connect(buyer_ws)
    await buyer_ws.send_json_to({"type": "send", "client_msg_id": "core-1", "text": "在吗"})
    assert (await until(agent_ws, "message"))["client_msg_id"] == "core-1"
    assert (await until(buyer_ws, "message"))["client_msg_id"] == "core-1"
    await agent_ws.disconnect()
    await buyer_ws.disconnect()


async def test_a_resend_stores_once_and_gets_the_same_ack(agent: StaffAccount, buyer: Buyer) -> None:
    buyer_ws = buyer_socket(await database_sync_to_async(tokens.buyer_token)(buyer))
    await connect(buyer_ws)
    frame = {"type": "send", "client_msg_id": "same-id", "text": "在吗"}
    await buyer_ws.send_json_to(frame)
    first = await until(buyer_ws, "ack")
    await buyer_ws.send_json_to(frame)
    second = await until(buyer_ws, "ack")
    assert (first["id"], first["seq"]) == (second["id"], second["seq"])
    assert await database_sync_to_async(Message.objects.filter(client_msg_id="same-id").count)() == 1
    await buyer_ws.disconnect()


async def send_interleaved(buyers: list[Buyer], rounds: int) -> list[WebsocketCommunicator]:
    """A socket per buyer, each sending ``rounds`` messages (client_msg_id ``<buyer index>-<round>``),
    interleaved and without waiting for acks: the sends reach the server together."""
    sockets = [buyer_socket(await database_sync_to_async(tokens.buyer_token)(b)) for b in buyers]
    for ws in sockets:
        await connect(ws)
    for k in range(rounds):
        for i, ws in enumerate(sockets):
            await ws.send_json_to({"type": "send", "client_msg_id": f"{i}-{k}", "text": f"第{k}条"})
    return sockets


async def test_sends_arriving_together_are_stored_in_shared_batches_and_arrive_in_order(
    shop_a: Shop, agent: StaffAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: what arrives while a batch is written goes into the next one; every send is acked with
    its own seq and the agent receives each chat's messages in order."""
    batches: list[int] = []
    store = consumers.store_buyer_sends

    async def recording(sends: list[Any]) -> Any:
        batches.append(len(sends))
        return await store(sends)

    monkeypatch.setattr(consumers, "store_buyer_sends", recording)
    buyers = [await database_sync_to_async(factories.buyer)(shop_a, f"gc{i}", f"买家{i}") for i in range(4)]
    for b in buyers:
        await database_sync_to_async(services.request_human)(buyer=b)
    agent_ws = await agent_socket(agent)
    await connect(agent_ws)
    sockets = await send_interleaved(buyers, 5)
    for i, ws in enumerate(sockets):
        acks = [await until(ws, "ack") for _ in range(5)]
        assert [(a["client_msg_id"], a["seq"]) for a in acks] == [(f"{i}-{k}", k + 1) for k in range(5)]
    received: dict[int, list[int]] = {}
    while sum(map(len, received.values())) < 20:
        frame = await until(agent_ws, "message")
        received.setdefault(frame["conversation"], []).append(frame["seq"])
    assert sorted(received.values()) == [[1, 2, 3, 4, 5]] * 4
    assert sum(batches) == 20 and max(batches) > 1 and len(batches) < 20
    for ws in [agent_ws, *sockets]:
        await ws.disconnect()


async def test_a_batch_that_fails_as_a_whole_is_retried_one_send_at_a_time(
    shop_a: Shop, agent: StaffAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, failed = consumers.store_buyer_sends, []

    async def deadlocking(sends: list[Any]) -> Any:
        if len(sends) > 1:
            failed.append(len(sends))
            raise OperationalError("deadlock detected")
        return await store(sends)

    monkeypatch.setattr(consumers, "store_buyer_sends", deadlocking)
    buyers = [await database_sync_to_async(factories.buyer)(shop_a, f"rt{i}", f"买家{i}") for i in range(4)]
    sockets = await send_interleaved(buyers, 3)
    for ws in sockets:
        assert [(await until(ws, "ack"))["seq"] for _ in range(3)] == [1, 2, 3]
        await ws.disconnect()
    assert await database_sync_to_async(Message.objects.filter(conversation__buyer__in=buyers).count)() == 12
    assert failed  # batches of several did fail, and every send was stored all the same


async def test_resume_after_a_gap_replays_what_was_missed_in_order(agent: StaffAccount, buyer: Buyer) -> None:
    conv, _decision = await database_sync_to_async(services.request_human)(buyer=buyer)
    agent_ws = await agent_socket(agent)
    await connect(agent_ws)
    await agent_ws.disconnect()  # the agent's network drops
    for i in range(3):
        await database_sync_to_async(services.post_buyer_message)(
            buyer=buyer, text=f"消息{i}", client_msg_id=f"m{i}"
        )
    agent_ws = await agent_socket(agent)
    await connect(agent_ws)
    await agent_ws.send_json_to({"type": "resume", "after": {str(conv.pk): 1}})  # saw seq 1 only
    frames = await frames_until(agent_ws, "resumed")
    assert [(f["seq"], f["text"]) for f in frames if f["type"] == "message"] == [(2, "消息1"), (3, "消息2")]
    await agent_ws.disconnect()


async def test_script_tags_are_stored_and_sent_as_text(agent: StaffAccount, buyer: Buyer) -> None:
    buyer_ws = buyer_socket(await database_sync_to_async(tokens.buyer_token)(buyer))
    await connect(buyer_ws)
    text = "<script>alert(1)</script>"
    await buyer_ws.send_json_to({"type": "send", "client_msg_id": "x", "text": text})
    ack = await until(buyer_ws, "ack")
    assert await database_sync_to_async(lambda: Message.objects.get(pk=ack["id"]).text)() == text
    await buyer_ws.disconnect()


# --- bad frames --------------------------------------------------------------------------------------------


async def test_bad_frames_get_error_events_and_the_connection_stays(
    agent: StaffAccount, buyer: Buyer
) -> None:
    buyer_ws = buyer_socket(await database_sync_to_async(tokens.buyer_token)(buyer))
    await connect(buyer_ws)
    await buyer_ws.send_to(text_data="{not json")
    assert (await until(buyer_ws, "error"))["code"] == "bad_json"
    await buyer_ws.send_to(text_data="[1, 2]")
    assert (await until(buyer_ws, "error"))["code"] == "bad_json"
    await buyer_ws.send_json_to({"type": "dance"})
    assert (await until(buyer_ws, "error"))["code"] == "unknown_type"
    await buyer_ws.send_json_to({"type": "send", "text": "no id"})
    assert (await until(buyer_ws, "error"))["code"] == "invalid"
    await buyer_ws.send_json_to({"type": "send", "client_msg_id": "long", "text": "长" * 2001})
    too_long = await until(buyer_ws, "error")
    assert (too_long["code"], too_long["client_msg_id"]) == ("too_long", "long")
    await buyer_ws.send_to(text_data=json.dumps({"type": "ping", "pad": "x" * 20_000}))
    assert (await until(buyer_ws, "error"))["code"] == "too_long"
    await buyer_ws.send_json_to({"type": "ping"})
    assert (await buyer_ws.receive_json_from(timeout=TIMEOUT))["type"] == "pong"
    assert not await database_sync_to_async(Message.objects.exists)()
    await buyer_ws.disconnect()


async def test_a_buyer_sending_too_fast_is_throttled(agent: StaffAccount, buyer: Buyer) -> None:
    buyer_ws = buyer_socket(await database_sync_to_async(tokens.buyer_token)(buyer))
    await connect(buyer_ws)
    for i in range(25):
        await buyer_ws.send_json_to({"type": "send", "client_msg_id": f"f{i}", "text": "快"})
    assert (await until(buyer_ws, "error"))["code"] == "throttled"
    stored = await database_sync_to_async(Message.objects.count)()
    assert 10 <= stored < 25
    await buyer_ws.disconnect()


# --- access ------------------------------------------------------------------------------------------------


async def test_an_agent_of_another_shop_gets_nothing_of_shop_a(
    agent: StaffAccount, buyer: Buyer, outsider: StaffAccount
) -> None:
    await database_sync_to_async(services.set_agent_status)(staff=outsider, status="online")
    outsider_ws = await agent_socket(outsider)
    await connect(outsider_ws)
    conv, _decision = await database_sync_to_async(services.request_human)(buyer=buyer)
    await database_sync_to_async(services.post_buyer_message)(
        buyer=buyer, text="shop A only", client_msg_id="p"
    )
    await outsider_ws.send_json_to({"type": "resume", "after": {str(conv.pk): 0}})
    assert (await outsider_ws.receive_json_from(timeout=TIMEOUT))["code"] == "not_found"
    assert (await outsider_ws.receive_json_from(timeout=TIMEOUT)) == {"type": "resumed", "conversations": []}
    await outsider_ws.send_json_to(
        {"type": "send", "conversation": conv.pk, "client_msg_id": "o", "text": "hi"}
    )
    assert (await outsider_ws.receive_json_from(timeout=TIMEOUT))["code"] == "not_found"
    assert await outsider_ws.receive_nothing(timeout=0.5)  # none of shop A's events reached shop B
    assert await database_sync_to_async(Message.objects.filter(conversation=conv).count)() == 1
    await outsider_ws.disconnect()


async def test_a_buyer_reaches_only_their_own_conversation(
    shop_a: Shop, agent: StaffAccount, buyer: Buyer
) -> None:
    other = await database_sync_to_async(factories.buyer)(shop_a, "ws-b2", "买家乙")
    conv, _decision = await database_sync_to_async(services.request_human)(buyer=other)
    buyer_ws = buyer_socket(await database_sync_to_async(tokens.buyer_token)(buyer))
    await connect(buyer_ws)
    await buyer_ws.send_json_to({"type": "resume", "after": {str(conv.pk): 0}})
    assert (await buyer_ws.receive_json_from(timeout=TIMEOUT))["code"] == "not_found"
    await buyer_ws.send_json_to({"type": "rate", "conversation": conv.pk, "stars": 1})
    await until(buyer_ws, "resumed")
    assert (await until(buyer_ws, "error"))["code"] == "not_found"
    await buyer_ws.disconnect()


async def test_an_agent_cannot_write_into_a_colleagues_chat(
    shop_a: Shop, agent: StaffAccount, buyer: Buyer
) -> None:
    conv, _decision = await database_sync_to_async(services.request_human)(buyer=buyer)
    colleague = await database_sync_to_async(factories.staff)(shop_a, "colleague", "售后-小林")
    ws = await agent_socket(colleague)
    await connect(ws)
    await ws.send_json_to({"type": "send", "conversation": conv.pk, "client_msg_id": "c", "text": "抢答"})
    assert (await until(ws, "error"))["code"] == "forbidden"
    await ws.disconnect()


# --- events of actions taken elsewhere ----------------------------------------------------------------------


async def test_end_status_and_rating_reach_every_tab(agent: StaffAccount, buyer: Buyer) -> None:
    tab1, tab2 = await agent_socket(agent), await agent_socket(agent)
    await connect(tab1)
    await connect(tab2)
    buyer_ws = buyer_socket(await database_sync_to_async(tokens.buyer_token)(buyer))
    await connect(buyer_ws)
    conv, _decision = await database_sync_to_async(services.request_human)(buyer=buyer)

    await database_sync_to_async(services.set_agent_status)(staff=agent, status="busy")
    assert (await until(tab1, "status"))["status"] == "busy"
    assert (await until(tab2, "status"))["status"] == "busy"

    await buyer_ws.send_json_to({"type": "rate", "conversation": conv.pk, "stars": 5})
    rated = await until(buyer_ws, "rated")
    assert rated["stars"] == 5 and "售前-小美" in rated["thanks"]
    assert (await until(tab1, "rated"))["stars"] == 5

    await database_sync_to_async(services.end_conversation)(conversation=conv, reason="agent", by=agent)
    assert (await until(tab2, "ended", conversation=conv.pk))["by"] == "agent"
    assert (await until(buyer_ws, "ended", conversation=conv.pk))["by"] == "agent"
    for ws in (tab1, tab2, buyer_ws):
        await ws.disconnect()


async def test_a_buyer_rates_the_chat_the_agent_just_ended(agent: StaffAccount, buyer: Buyer) -> None:
    token = await database_sync_to_async(tokens.buyer_token)(buyer)
    conv, _decision = await database_sync_to_async(services.request_human)(buyer=buyer)
    tab = await agent_socket(agent)
    await connect(tab)
    buyer_ws = buyer_socket(token)
    target = {"conversation": conv.pk, "agent_name": "售前-小美", "stars": None}
    assert (await connect(buyer_ws))["rating"] == target
    await database_sync_to_async(services.end_conversation)(conversation=conv, reason="agent", by=agent)
    await until(buyer_ws, "ended", conversation=conv.pk)

    await buyer_ws.send_json_to({"type": "rate", "conversation": conv.pk, "stars": 4})
    assert (await until(buyer_ws, "rated"))["stars"] == 4
    assert (await until(tab, "rated", conversation=conv.pk))["stars"] == 4
    await buyer_ws.disconnect()
    again = buyer_socket(token)
    assert (await connect(again))["rating"] == {**target, "stars": 4}
    for ws in (tab, again):
        await ws.disconnect()


async def test_queued_buyers_learn_their_position(shop_a: Shop, agent: StaffAccount) -> None:
    await database_sync_to_async(AgentState.objects.filter(staff=agent).update)(load=0)
    await database_sync_to_async(StaffAccount.objects.filter(pk=agent.pk).update)(max_concurrent=1)
    first = await database_sync_to_async(factories.buyer)(shop_a, "q1", "买家一")
    second = await database_sync_to_async(factories.buyer)(shop_a, "q2", "买家二")
    await database_sync_to_async(services.request_human)(buyer=first)  # takes the only seat
    ws = buyer_socket(await database_sync_to_async(tokens.buyer_token)(second))
    await connect(ws)
    conv, _decision = await database_sync_to_async(services.request_human)(buyer=second)
    queued = await until(ws, "queued")
    assert (queued["conversation"], queued["position"]) == (conv.pk, 1) and queued["wait_seconds"] > 0
    await ws.disconnect()


# --- presence ----------------------------------------------------------------------------------------------


async def test_presence_grace_then_offline(agent: StaffAccount) -> None:
    tab = await agent_socket(agent)
    await connect(tab)
    await tab.disconnect()
    await asyncio.sleep(0)  # let the disconnect handler run

    def status() -> str:
        return AgentState.objects.get(staff=agent).status

    def closed_ago(seconds: int) -> None:
        """The last tab closed ``seconds`` earlier than it did, by the database clock that stamped it."""
        gone = AgentState.objects.filter(staff=agent, disconnected_at__isnull=False)
        gone.update(disconnected_at=F("disconnected_at") - timedelta(seconds=seconds))

    await database_sync_to_async(closed_ago)(30)
    assert await database_sync_to_async(presence.expire_presence)() == 0
    assert await database_sync_to_async(status)() == "online"  # a short drop reroutes nothing
    tab = await agent_socket(agent)
    await connect(tab)  # back within the grace period
    await database_sync_to_async(closed_ago)(90)
    assert await database_sync_to_async(presence.expire_presence)() == 0
    await tab.disconnect()
    await asyncio.sleep(0)
    await database_sync_to_async(closed_ago)(61)
    assert await database_sync_to_async(presence.expire_presence)() == 1
    assert await database_sync_to_async(status)() == "offline"


async def test_conversation_state_is_unchanged_by_a_refused_frame(agent: StaffAccount, buyer: Buyer) -> None:
    conv, _decision = await database_sync_to_async(services.request_human)(buyer=buyer)
    ws = await agent_socket(agent)
    await connect(ws)
    await ws.send_json_to({"type": "send", "conversation": conv.pk, "client_msg_id": "z", "text": "   "})
    assert (await until(ws, "error"))["code"] == "invalid"
    fresh = await database_sync_to_async(Conversation.objects.get)(pk=conv.pk)
    assert (fresh.last_seq, fresh.waiting_since is not None) == (0, True)
    await ws.disconnect()


async def test_a_percent_encoded_token_and_the_product_the_buyer_came_from(
    shop_a: Shop, shop_b: Shop, agent: StaffAccount, buyer: Buyer
) -> None:
    from urllib.parse import quote

    product = await database_sync_to_async(factories.product)(shop_a, "p-ws", "实木餐桌")
    foreign = await database_sync_to_async(factories.product)(shop_b, "p-b", "别家商品")
    token = await database_sync_to_async(tokens.buyer_token)(buyer)
    ws = buyer_socket(quote(token, safe=""))  # what a browser's encodeURIComponent sends
    await connect(ws)
    await ws.send_json_to(
        {"type": "send", "client_msg_id": "p1", "text": "这张桌子有货吗", "product": product.pk}
    )
    ack = await until(ws, "ack")
    conv = await database_sync_to_async(Conversation.objects.get)(pk=ack["conversation"])
    assert conv.source_product_id == product.pk
    await database_sync_to_async(services.end_conversation)(conversation=conv, reason="agent")
    await ws.send_json_to({"type": "send", "client_msg_id": "p2", "text": "再问一下", "product": foreign.pk})
    second = await until(ws, "ack")
    conv = await database_sync_to_async(Conversation.objects.get)(pk=second["conversation"])
    assert conv.source_product_id is None  # another shop's product is ignored
    await ws.disconnect()


# --- the reception hook ------------------------------------------------------------------------------------


def robot_for_tests(received: Sequence[Received]) -> list[Exception | None]:
    """A receiver as the robot app will fill the hook with: it answers each message itself, and hands the
    chat to a human (with the conversation's intent and the reason) when the buyer asks for one."""
    results: list[Exception | None] = []
    for item in received:
        if "转人工" in item.message.text:
            arrival = services.Arrival(item.buyer, item.source_product, "refund", ArrivalReason.BUYER_ASKED)
            results += services.hand_over([arrival])
            continue
        services.post_robot_message(
            conversation=item.message.conversation,
            text=f"您好，关于「{item.message.text}」我来帮您查",
            client_msg_id=f"robot-{item.message.pk}",
        )
        results.append(None)
    return results


@pytest.fixture
def robot_reception(settings: Any) -> Iterator[None]:
    settings.ROUTING_RECEPTION = "tests.routing.test_consumers.robot_for_tests"
    receiver.cache_clear()
    yield
    receiver.cache_clear()


@pytest.mark.usefixtures("robot_reception")
async def test_the_reception_hook_lets_the_robot_answer_then_hand_over(
    agent: StaffAccount, buyer: Buyer
) -> None:
    agent_ws = await agent_socket(agent)
    await connect(agent_ws)
    buyer_ws = buyer_socket(await database_sync_to_async(tokens.buyer_token)(buyer))
    await connect(buyer_ws)

    await buyer_ws.send_json_to({"type": "send", "client_msg_id": "b-1", "text": "在吗"})
    ack = await until(buyer_ws, "ack")
    answer = await until(buyer_ws, "message", sender="robot")
    assert (answer["seq"], answer["agent_name"]) == (2, None)
    conv = await database_sync_to_async(Conversation.objects.get)(pk=ack["conversation"])
    assert conv.state == "robot" and conv.agent_id is None  # the robot kept the chat: nobody was assigned

    await buyer_ws.send_json_to({"type": "send", "client_msg_id": "b-2", "text": "转人工"})
    assigned = await until(agent_ws, "assigned", conversation=conv.pk)
    assert assigned["agent_id"] == agent.pk
    conv = await database_sync_to_async(Conversation.objects.get)(pk=conv.pk)
    assert (conv.state, conv.intent, conv.handoff_reason) == ("active", "refund", "buyer_asked")
    await agent_ws.send_json_to({"type": "resume", "after": {str(conv.pk): 0}})
    replayed = [f for f in await frames_until(agent_ws, "resumed") if f["type"] == "message"]
    assert [(f["sender"], f["text"]) for f in replayed] == [
        ("buyer", "在吗"),
        ("robot", "您好，关于「在吗」我来帮您查"),  # the agent sees the robot's part, marked as the robot's
        ("buyer", "转人工"),
    ]
    await agent_ws.disconnect()
    await buyer_ws.disconnect()


async def test_without_a_robot_the_first_message_goes_to_a_human_with_that_reason(
    agent: StaffAccount, buyer: Buyer
) -> None:
    buyer_ws = buyer_socket(await database_sync_to_async(tokens.buyer_token)(buyer))
    await connect(buyer_ws)
    await buyer_ws.send_json_to({"type": "send", "client_msg_id": "b-1", "text": "你好"})
    ack = await until(buyer_ws, "ack")
    await until(buyer_ws, "assigned")
    conv = await database_sync_to_async(Conversation.objects.get)(pk=ack["conversation"])
    assert (conv.state, conv.agent_id, conv.handoff_reason) == ("active", agent.pk, "no_robot")
    await buyer_ws.disconnect()


class ShippingAlert(Event):
    """An event of another app (the shop operations' deadline alerts will be like it)."""

    type: Literal["shipping_alert"] = "shipping_alert"
    order: str


async def test_events_of_any_app_reach_the_agents_tabs_after_commit(agent: StaffAccount) -> None:
    agent_ws = await agent_socket(agent)
    await connect(agent_ws)

    def alert() -> None:
        with transaction.atomic():
            publish([(shop_agents_group(agent.shop_id), ShippingAlert(order="6930001"))])

    await database_sync_to_async(alert)()
    assert await until(agent_ws, "shipping_alert") == {"type": "shipping_alert", "order": "6930001"}
    await agent_ws.disconnect()


async def test_the_pool_holder_is_told_of_a_pool_chat_answers_it_and_is_told_when_it_leaves(
    shop_a: Shop, owner: StaffAccount, buyer: Buyer
) -> None:
    """Everyone offline, offline mode pool: the owner (the holder) gets the chat as ``assigned`` with
    ``state`` pool, answers it over the socket, and learns it left them when it is handed out."""

    def pool_mode() -> StaffAccount:
        services.set_agent_status(staff=owner, status="offline")
        services.routing_settings(shop_a)
        RoutingSettings.objects.filter(shop=shop_a).update(offline_mode="pool")
        return factories.staff(shop_a, "morning", "早班-小美")

    morning = await database_sync_to_async(pool_mode)()
    holder_ws = await agent_socket(owner)
    await connect(holder_ws)
    buyer_ws = buyer_socket(await database_sync_to_async(tokens.buyer_token)(buyer))
    await connect(buyer_ws)
    await buyer_ws.send_json_to({"type": "send", "client_msg_id": "n-1", "text": "晚上有人吗"})
    pooled = await until(holder_ws, "assigned")
    assert (pooled["state"], pooled["rule"], pooled["agent_id"]) == ("pool", "message_pool", owner.pk)
    conv = pooled["conversation"]

    await holder_ws.send_json_to(
        {"type": "send", "conversation": conv, "client_msg_id": "h-1", "text": "明早处理"}
    )
    assert (await until(holder_ws, "ack"))["seq"] == 2
    assert (await until(buyer_ws, "message", seq=2))["text"] == "明早处理"

    def hand_out() -> None:
        services.set_agent_status(staff=morning, status="online")
        services.reassign_from_pool(
            conversation=Conversation.objects.get(pk=conv), to_agent=morning, by=owner
        )

    await database_sync_to_async(hand_out)()
    left = await until(holder_ws, "transferred", conversation=conv)
    assert (left["from_agent_id"], left["to_agent_id"]) == (owner.pk, morning.pk)
    assert (await until(buyer_ws, "assigned"))["agent_name"] == "早班-小美"
    await holder_ws.disconnect()
    await buyer_ws.disconnect()
