"""The robot's reception through the real buyer socket (WebsocketCommunicator): the buyer asks where the
parcel is and gets the tracking number, asks for a human and is assigned; the agent sees the robot's part
of the same conversation, marked as the robot's, and the hand-off reason."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from backoffice.models import Buyer, Shop, StaffAccount
from robot.reception_config import save_reception
from routing import tokens
from routing.models import Conversation
from tests.backoffice import factories
from tests.routing.sockets import agent, agent_socket, buyer_socket, connect, frames_until, layer, until

__all__ = ["agent", "layer"]  # fixtures

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("layer")]


def _shipped_buyer(shop: Shop) -> Buyer:
    save_reception(shop, {"full_auto": True})
    buyer = factories.buyer(shop, "ws-r1", "小王")
    factories.order(
        shop,
        "S1",
        "ws-r1",
        status="shipped",
        shipped_at=timezone.now(),
        carrier="顺丰速运",
        tracking_number="SF77",
    )
    return buyer


async def test_a_buyer_gets_the_tracking_number_then_a_human_who_sees_the_robot_part(
    shop_a: Shop, agent: StaffAccount
) -> None:
    buyer = await database_sync_to_async(_shipped_buyer)(shop_a)
    agent_ws = await agent_socket(agent)
    await connect(agent_ws)
    buyer_ws = buyer_socket(await database_sync_to_async(tokens.buyer_token)(buyer))
    await connect(buyer_ws)

    await buyer_ws.send_json_to({"type": "send", "client_msg_id": "b-1", "text": "我的快递到哪了"})
    ack = await until(buyer_ws, "ack")
    await until(buyer_ws, "message", sender="robot")  # the opening text
    answer: dict[str, Any] = await until(buyer_ws, "message", sender="robot")
    assert "SF77" in answer["text"] and answer["agent_name"] is None

    await buyer_ws.send_json_to({"type": "send", "client_msg_id": "b-2", "text": "转人工"})
    assigned = await until(agent_ws, "assigned", conversation=ack["conversation"])
    assert assigned["agent_id"] == agent.pk
    conv = await database_sync_to_async(Conversation.objects.get)(pk=ack["conversation"])
    assert (conv.state, conv.intent, conv.handoff_reason) == ("active", "logistics", "buyer_asked")

    await agent_ws.send_json_to({"type": "resume", "after": {str(conv.pk): 0}})
    replayed = [f for f in await frames_until(agent_ws, "resumed") if f["type"] == "message"]
    senders = [f["sender"] for f in replayed]
    assert senders == ["buyer", "robot", "robot", "buyer", "robot", "system"]
    assert "SF77" in replayed[2]["text"]
    await agent_ws.disconnect()
    await buyer_ws.disconnect()


async def test_the_buyer_pages_button_text_reaches_a_human(shop_a: Shop, agent: StaffAccount) -> None:
    """The chat page's "talk to a human" button sends routing.views.ASK_HUMAN_TEXT as a message."""
    from routing.views import ASK_HUMAN_TEXT

    buyer = await database_sync_to_async(_shipped_buyer)(shop_a)
    buyer_ws = buyer_socket(await database_sync_to_async(tokens.buyer_token)(buyer))
    await connect(buyer_ws)
    await buyer_ws.send_json_to({"type": "send", "client_msg_id": "b-1", "text": ASK_HUMAN_TEXT})
    assigned = await until(buyer_ws, "assigned")
    assert assigned["agent_name"] == agent.display_name
    await buyer_ws.disconnect()
