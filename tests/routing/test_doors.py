"""The public doors routing offers the apps built on it (robot, reports, shop operations): robot and system
messages, hand-overs with their reason, and the data the reports read (queue times kept, status history,
messages by shop)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from backoffice.errors import Conflict, Invalid
from backoffice.models import Shop, StaffAccount
from routing import services
from routing.models import (
    AgentStatus,
    AgentStatusChange,
    ArrivalReason,
    Conversation,
    ConversationState,
    EndReason,
    Message,
    SenderKind,
)
from tests.backoffice import factories

pytestmark = pytest.mark.usefixtures("owner_offline")
Agent = Callable[..., StaffAccount]


def robot_chat(shop: Shop, platform_id: str = "r1") -> Conversation:
    """A conversation with the robot: the buyer wrote, nobody handed it over yet."""
    message = services.post_buyer_message(buyer=factories.buyer(shop, platform_id, "小王"), text="在吗")
    return Conversation.objects.get(pk=message.conversation_id)


# --- robot and system messages -----------------------------------------------------------------------------


def test_a_robot_message_is_the_robots_and_touches_no_reply_timer(shop_a: Shop) -> None:
    conv = robot_chat(shop_a)
    message = services.post_robot_message(conversation=conv, text="您好，我是智能客服")
    assert (message.sender, message.agent_id, message.seq, message.shop_id) == (
        SenderKind.ROBOT,
        None,
        2,
        shop_a.pk,
    )
    conv.refresh_from_db()
    assert conv.state == ConversationState.ROBOT and conv.waiting_since is None and conv.last_seq == 2


def test_robot_time_never_counts_as_a_humans(shop_a: Shop, make_agent: Agent) -> None:
    agent = make_agent("小美")
    conv, _decision = services.request_human(buyer=factories.buyer(shop_a, "t1", "小王"))
    waiting_since = Conversation.objects.get(pk=conv.pk).waiting_since
    services.post_robot_message(conversation=conv, text="稍等，客服马上来")
    services.post_system_message(conversation=conv, text="已为您转接人工客服")
    conv.refresh_from_db()
    assert conv.waiting_since == waiting_since  # only the agent's reply stops the timer
    assert conv.first_response_seconds is None
    services.post_agent_message(agent=agent, conversation=conv, text="您好")
    conv.refresh_from_db()
    assert conv.waiting_since is None and conv.first_response_seconds is not None


def test_robot_and_system_messages_are_idempotent_and_never_land_in_an_ended_chat(shop_a: Shop) -> None:
    conv = robot_chat(shop_a)
    first = services.post_system_message(conversation=conv, text="常见问题", client_msg_id="faq-1")
    again = services.post_system_message(conversation=conv, text="常见问题", client_msg_id="faq-1")
    assert again.pk == first.pk and Message.objects.filter(conversation=conv).count() == 2
    with pytest.raises(Invalid):
        services.post_robot_message(conversation=conv, text="   ")
    services.end_conversation(conversation=conv, reason=EndReason.BUYER)
    with pytest.raises(Conflict):
        services.post_robot_message(conversation=conv, text="还在吗")
    assert Message.objects.filter(conversation=conv).count() == 2


# --- hand-overs carry their reason -------------------------------------------------------------------------


def test_a_hand_over_carries_the_buyer_the_product_the_intent_and_the_reason(
    shop_a: Shop, make_agent: Agent
) -> None:
    make_agent("小美")
    conv = robot_chat(shop_a)
    cup = factories.product(shop_a, "p1")
    arrival = services.Arrival(conv.buyer, cup, intent="refund", reason=ArrivalReason.ROBOT_UNSURE)
    assert services.hand_over([arrival]) == [None]
    conv.refresh_from_db()
    assert (conv.state, conv.source_product_id, conv.intent, conv.handoff_reason) == (
        ConversationState.ACTIVE,
        cup.pk,
        "refund",
        ArrivalReason.ROBOT_UNSURE,
    )
    asked, _decision = services.request_human(buyer=factories.buyer(shop_a, "r2", "小李"))
    assert asked.handoff_reason == ArrivalReason.BUYER_ASKED


def test_a_chat_whose_agent_went_offline_comes_back_as_an_arrival_with_that_reason(
    shop_a: Shop, make_agent: Agent
) -> None:
    gone, other = make_agent("小美"), make_agent("小林", status="offline")
    conv, _decision = services.request_human(buyer=factories.buyer(shop_a, "g1", "小王"))
    assert conv.agent_id == gone.pk
    services.set_agent_status(staff=gone, status=AgentStatus.OFFLINE)
    services.set_agent_status(staff=other, status=AgentStatus.ONLINE)
    services.post_buyer_message(buyer=conv.buyer, text="人呢")
    conv.refresh_from_db()
    assert (conv.agent_id, conv.handoff_reason) == (other.pk, ArrivalReason.AGENT_GONE)


# --- what the reports read ---------------------------------------------------------------------------------


def test_a_queued_chat_keeps_when_it_entered_the_queue_after_it_is_assigned(
    shop_a: Shop, make_agent: Agent
) -> None:
    agent = make_agent("小美", max_concurrent=1)
    services.request_human(buyer=factories.buyer(shop_a, "q1", "先来的"))
    queued, _decision = services.request_human(buyer=factories.buyer(shop_a, "q2", "后来的"))
    assert queued.state == ConversationState.QUEUED and queued.queued_at is not None
    entered = queued.queued_at
    first = Conversation.objects.get(buyer__platform_id="q1")
    services.end_conversation(conversation=first, reason=EndReason.AGENT, by=agent)  # the seat frees
    queued.refresh_from_db()
    assert queued.state == ConversationState.ACTIVE and queued.agent_id == agent.pk
    assert queued.queued_at == entered  # kept: the queue wait is assigned_at - queued_at
    assert queued.assigned_at is not None and queued.assigned_at >= entered


def test_every_status_change_is_recorded_with_its_time_and_a_repeat_is_not(
    shop_a: Shop, make_agent: Agent
) -> None:
    agent = make_agent("小美", status="offline")
    for status in ("online", "online", "busy", "offline"):
        services.set_agent_status(staff=agent, status=status)
    changes = list(AgentStatusChange.objects.filter(staff=agent).order_by("pk"))
    assert [c.status for c in changes] == ["online", "busy", "offline"]
    assert all(c.shop_id == shop_a.pk and c.at is not None for c in changes)
    assert changes[0].at <= changes[1].at <= changes[2].at


def test_every_message_names_its_shop(shop_a: Shop, make_agent: Agent) -> None:
    agent = make_agent("小美")
    conv, _decision = services.request_human(buyer=factories.buyer(shop_a, "m1", "小王"))
    services.post_buyer_message(buyer=conv.buyer, text="在吗")
    services.post_agent_message(agent=agent, conversation=conv, text="在的")
    services.post_system_message(conversation=conv, text="系统通知")
    assert set(Message.objects.filter(conversation=conv).values_list("shop_id", flat=True)) == {shop_a.pk}
    assert Message.objects.for_shop(shop_a).count() == 3
