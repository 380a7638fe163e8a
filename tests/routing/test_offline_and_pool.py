"""Busy is not offline, the shop's offline mode, and the message pool worked off (seeds 000, 003, 004), seen
through the API the workbench and the supervisors use. Buyers arrive as the chat socket makes them arrive
(``request_human``)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from backoffice.models import Shop, StaffAccount
from routing import services
from routing.models import AgentGroup, Conversation, RoutingSettings
from tests.backoffice import factories
from tests.conftest import api_call, login_client

pytestmark = pytest.mark.usefixtures("owner_offline")
API = "/api/v1/routing/"


def call(client: Client, method: str, path: str, body: Any = None) -> Any:
    return api_call(client, method, API + path, body)


def arrive(shop: Shop, pid: str, **kw: Any) -> Conversation:
    buyer = factories.buyer(shop, pid, f"买家{pid}")
    conv, _decision = services.request_human(buyer=buyer, **kw)
    conv.refresh_from_db()
    return conv


def status(client: Client, value: str) -> None:
    assert call(client, "put", "me/status", {"status": value}).status_code == 200


def shop_settings(shop: Shop, **changes: Any) -> None:
    services.routing_settings(shop)
    RoutingSettings.objects.filter(shop=shop).update(**changes)


def listed(client: Client) -> dict[int, str]:
    return {row["id"]: row["state"] for row in call(client, "get", "conversations").json()}


# --- busy is not offline -----------------------------------------------------------------------------------


def test_with_every_agent_busy_the_buyer_queues_and_is_assigned_when_one_comes_online(
    shop_a: Shop, teammate: StaffAccount, teammate_client: Client
) -> None:
    status(teammate_client, "busy")
    conv = arrive(shop_a, "busy1")
    assert conv.state == "queued"
    assert conv.routing_decisions.get().rule == "none_online"
    assert [row["id"] for row in call(teammate_client, "get", "queue").json()] == [conv.pk]

    status(teammate_client, "online")
    conv.refresh_from_db()
    assert (conv.state, conv.agent_id) == ("active", teammate.pk)
    assert listed(teammate_client) == {conv.pk: "active"}


def test_a_busy_group_queues_its_buyers_in_that_group(
    shop_a: Shop, teammate: StaffAccount, colleague: StaffAccount
) -> None:
    presale = AgentGroup.objects.create(shop=shop_a, name="售前", order_states=["none"])
    aftersale = AgentGroup.objects.create(shop=shop_a, name="售后", order_states=["shipped"])
    services.configure_agent(staff=teammate, group=presale)
    services.configure_agent(staff=colleague, group=aftersale)
    services.set_agent_status(staff=teammate, status="busy")
    conv = arrive(shop_a, "pre")  # no order: the pre-sale group, whose only agent is busy
    assert (conv.state, conv.group_id) == ("queued", presale.pk)
    services.set_agent_status(staff=teammate, status="online")
    conv.refresh_from_db()
    assert (conv.state, conv.agent_id) == ("active", teammate.pk)


# --- everyone offline: the shop's offline mode -------------------------------------------------------------


def test_everyone_offline_queues_by_default_until_an_agent_comes_online(
    shop_a: Shop, teammate: StaffAccount, teammate_client: Client, owner_client: Client
) -> None:
    assert call(owner_client, "get", "settings").json()["offline_mode"] == "queue"
    conv = arrive(shop_a, "night")
    assert (conv.state, conv.agent_id) == ("queued", None)
    assert conv.routing_decisions.get().rule == "offline_queue"
    status(teammate_client, "online")
    conv.refresh_from_db()
    assert (conv.state, conv.agent_id) == ("active", teammate.pk)


def test_the_offline_mode_is_a_setting_with_a_clear_error(owner_client: Client, shop_a: Shop) -> None:
    response = call(owner_client, "put", "settings", {"offline_mode": "owner"})
    assert response.status_code == 422
    assert RoutingSettings.objects.filter(shop=shop_a, offline_mode="owner").count() == 0
    assert call(owner_client, "put", "settings", {"offline_mode": "pool"}).json()["offline_mode"] == "pool"
    conv = arrive(shop_a, "night")
    assert conv.state == "pool"
    assert conv.routing_decisions.get().rule == "message_pool"


def test_offline_routing_still_comes_before_the_offline_mode(shop_a: Shop, teammate: StaffAccount) -> None:
    shop_settings(shop_a, offline_routing=True, offline_mode="pool")
    services.configure_agent(staff=teammate, offline_routing=True)
    conv = arrive(shop_a, "night")
    assert (conv.state, conv.agent_id) == ("active", teammate.pk)


# --- the message pool, worked off --------------------------------------------------------------------------


@pytest.fixture
def pooled(shop_a: Shop) -> list[Conversation]:
    """Three chats left in the message pool overnight (held by the owner)."""
    shop_settings(shop_a, offline_mode="pool")
    return [arrive(shop_a, f"night{i}") for i in range(3)]


def test_the_holder_sees_the_pool_in_the_workbench_and_can_reply(
    shop_a: Shop, owner: StaffAccount, owner_client: Client, pooled: list[Conversation]
) -> None:
    assert {c.agent_id for c in pooled} == {owner.pk}
    assert listed(owner_client) == {c.pk: "pool" for c in pooled}
    reply = call(
        owner_client, "post", f"conversations/{pooled[0].pk}/messages", {"text": "亲，明早客服上线处理"}
    )
    assert reply.status_code == 200, reply.content
    services.post_buyer_message(buyer=pooled[0].buyer, text="好的")  # lands in the same chat, still pooled
    pooled[0].refresh_from_db()
    assert (pooled[0].state, pooled[0].last_seq) == ("pool", 2)
    page = owner_client.get("/workbench/")
    assert page.status_code == 200 and "pool-all-btn" in page.content.decode()


def test_only_the_holder_and_supervisors_see_and_hand_out_the_pool(
    teammate_client: Client,
    owner_client: Client,
    supervisor: StaffAccount,
    teammate: StaffAccount,
    pooled: list[Conversation],
) -> None:
    assert [row["id"] for row in call(owner_client, "get", "pool").json()] == [c.pk for c in pooled]
    assert len(call(login_client(supervisor), "get", "pool").json()) == 3
    assert call(teammate_client, "get", "pool").status_code == 403
    assert call(teammate_client, "post", "pool/reassign").status_code == 403
    body = {"to_agent_id": teammate.pk}
    assert call(teammate_client, "post", f"pool/{pooled[0].pk}/reassign", body).status_code == 403
    assert Conversation.objects.filter(pk__in=[c.pk for c in pooled], state="pool").count() == 3


def test_a_pool_chat_is_handed_to_an_online_agent_one_by_one(
    owner_client: Client, teammate: StaffAccount, teammate_client: Client, pooled: list[Conversation]
) -> None:
    first = pooled[0]
    body = {"to_agent_id": teammate.pk}
    offline = call(owner_client, "post", f"pool/{first.pk}/reassign", body)
    assert offline.status_code == 422  # the seeds: to an online agent
    status(teammate_client, "online")
    response = call(owner_client, "post", f"pool/{first.pk}/reassign", body)
    assert response.status_code == 200, response.content
    assert (response.json()["state"], response.json()["agent_id"]) == ("active", teammate.pk)
    assert first.pk in listed(teammate_client)
    assert first.pk not in listed(owner_client)
    assert call(owner_client, "post", f"pool/{first.pk}/reassign", body).status_code == 409
    assert first.routing_decisions.order_by("pk").last().rule == "pool_reassigned"  # type: ignore[union-attr]


def test_the_whole_pool_is_handed_out_at_once_to_free_seats(
    shop_a: Shop, owner_client: Client, make_agent: Any, pooled: list[Conversation]
) -> None:
    one, two = make_agent("早班1", 1), make_agent("早班2", 1)
    response = call(owner_client, "post", "pool/reassign")
    assert response.status_code == 200, response.content
    assert response.json() == {"assigned": 2, "left": 1}
    handed = Conversation.objects.filter(pk__in=[c.pk for c in pooled], state="active")
    assert sorted(handed.values_list("agent_id", flat=True)) == sorted([one.pk, two.pk])
    assert handed.filter(pk__in=[pooled[0].pk, pooled[1].pk]).count() == 2  # oldest first
    assert services.load_matches_open_sessions(shop_a) == []


def test_the_shop_can_drain_the_pool_as_agents_come_online(
    shop_a: Shop,
    owner_client: Client,
    teammate: StaffAccount,
    teammate_client: Client,
    pooled: list[Conversation],
) -> None:
    status(teammate_client, "online")  # automatic draining is off: the pool stays
    assert Conversation.objects.filter(state="pool").count() == 3
    status(teammate_client, "offline")
    assert call(owner_client, "put", "settings", {"pool_auto_drain": True}).status_code == 200
    status(teammate_client, "online")
    assert Conversation.objects.filter(state="active", agent=teammate).count() == 3
    assert {c.routing_decisions.order_by("pk").last().rule for c in pooled} == {"pool_drain/idle_ratio"}  # type: ignore[union-attr]


def test_an_agent_takes_a_pool_chat_by_hand(
    teammate: StaffAccount, teammate_client: Client, pooled: list[Conversation]
) -> None:
    response = call(teammate_client, "post", "queue/pull", {"conversation_id": pooled[1].pk})
    assert response.status_code == 200, response.content
    assert response.json()["agent_id"] == teammate.pk
    head = call(teammate_client, "post", "queue/pull", {})  # the queue is empty: the oldest pool chat
    assert head.json()["id"] == pooled[0].pk
    assert call(teammate_client, "post", "queue/pull", {"conversation_id": pooled[1].pk}).status_code == 409


def test_another_shops_pool_does_not_exist_for_an_outsider(
    outsider_client: Client, outsider: StaffAccount, teammate: StaffAccount, pooled: list[Conversation]
) -> None:
    assert call(outsider_client, "get", "pool").json() == []
    body = {"to_agent_id": teammate.pk}
    assert call(outsider_client, "post", f"pool/{pooled[0].pk}/reassign", body).status_code == 404
    assert call(outsider_client, "post", "pool/reassign").json() == {"assigned": 0, "left": 0}
    assert call(outsider_client, "post", "queue/pull", {"conversation_id": pooled[0].pk}).status_code == 404
    assert Conversation.objects.filter(pk__in=[c.pk for c in pooled], state="pool").count() == 3


@pytest.mark.parametrize(
    "body", [{}, {"to_agent_id": "x"}, {"to_agent_id": 1, "extra": 1}, {"to_agent_id": 10**12}]
)
def test_a_bad_hand_out_body_is_a_clear_4xx(
    owner_client: Client, pooled: list[Conversation], body: Any
) -> None:
    response = call(owner_client, "post", f"pool/{pooled[0].pk}/reassign", body)
    assert response.status_code in (404, 422), response.content
    assert call(owner_client, "post", f"pool/{10**12}/reassign", {"to_agent_id": 1}).status_code == 404
    assert Conversation.objects.filter(pk__in=[c.pk for c in pooled], state="pool").count() == 3
