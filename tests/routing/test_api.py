"""The routing API at /api/v1/routing/: every endpoint's happy path, rights (403), tenancy (another shop's
ids are 404), refused requests (409/422), CSRF on session writes, and the OpenAPI listing."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from backoffice.models import Buyer, Role, Shop, StaffAccount
from routing import services
from routing.models import (
    AgentState,
    Conversation,
    ConversationState,
    Message,
    RoutingSettings,
    Transfer,
)
from tests.backoffice import factories
from tests.conftest import api_call, login_client

API = "/api/v1/routing/"


def call(client: Client, method: str, path: str, body: Any = None) -> Any:
    return api_call(client, method, API + path, body)


def online(*accounts: StaffAccount) -> None:
    for account in accounts:
        services.set_agent_status(staff=account, status="online")


def chat(shop: Shop, platform_id: str = "b1") -> Conversation:
    """A buyer asks for a human and is routed."""
    conv, _decision = services.request_human(buyer=factories.buyer(shop, platform_id, f"买家{platform_id}"))
    conv.refresh_from_db()
    return conv


@pytest.fixture
def teammate_chat(shop_a: Shop, teammate: StaffAccount) -> Conversation:
    """An active chat routed to the teammate (the only online agent)."""
    online(teammate)
    conv = chat(shop_a)
    assert conv.state == ConversationState.ACTIVE and conv.agent_id == teammate.pk
    return conv


# --- my presence and limit ---------------------------------------------------------------------------------


def test_my_state_starts_offline_and_follows_my_status(
    teammate_client: Client, teammate: StaffAccount
) -> None:
    state = call(teammate_client, "get", "me/state").json()
    assert (state["status"], state["load"], state["staff_id"]) == ("offline", 0, teammate.pk)
    assert AgentState.objects.get(staff=teammate).status == "offline"  # there from the account's creation

    response = call(teammate_client, "put", "me/status", {"status": "online"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "online"
    assert AgentState.objects.get(staff=teammate).status == "online"
    assert call(teammate_client, "put", "me/status", {"status": "busy"}).json()["status"] == "busy"
    assert call(teammate_client, "get", "me/state").json()["status"] == "busy"


@pytest.mark.parametrize("body", [{"status": "away"}, {}, {"status": "online", "extra": 1}])
def test_bad_status_is_422(teammate_client: Client, body: dict[str, Any]) -> None:
    assert call(teammate_client, "put", "me/status", body).status_code == 422


def test_going_online_needs_im_permission(shop_a: Shop) -> None:
    no_im = factories.staff(shop_a, "ops_a", "运营-阿杰", role=Role.OPERATIONS, im=False)
    client = login_client(no_im)
    assert call(client, "put", "me/status", {"status": "online"}).status_code == 403
    assert call(client, "put", "me/status", {"status": "offline"}).status_code == 200


def test_my_limit_is_1_to_the_shop_cap(teammate_client: Client, teammate: StaffAccount) -> None:
    response = call(teammate_client, "put", "me/limit", {"limit": 3})
    assert response.status_code == 200, response.content
    assert response.json()["max_concurrent"] == 3
    for bad in (0, teammate.shop.reception_cap + 1):
        response = call(teammate_client, "put", "me/limit", {"limit": bad})
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "limit"
    teammate.refresh_from_db()
    assert teammate.max_concurrent == 3


# --- queue -------------------------------------------------------------------------------------------------


@pytest.fixture
def queued(shop_a: Shop, teammate: StaffAccount, teammate_chat: Conversation) -> list[Conversation]:
    """The teammate is full (limit 1, one chat), so two more buyers are queued, b2 before b3."""
    services.set_reception_limit(actor=teammate, staff=teammate, limit=1)
    convs = [chat(shop_a, "b2"), chat(shop_a, "b3")]
    assert [c.state for c in convs] == [ConversationState.QUEUED] * 2
    now = timezone.now()
    for minutes, conv in zip((10, 5), convs, strict=True):
        Conversation.objects.filter(pk=conv.pk).update(queued_at=now - timedelta(minutes=minutes))
    return convs


def test_queue_lists_queued_chats_in_serving_order(
    teammate_client: Client, owner: StaffAccount, queued: list[Conversation]
) -> None:
    body = call(teammate_client, "get", "queue").json()
    assert [(q["position"], q["id"]) for q in body] == [(1, queued[0].pk), (2, queued[1].pk)]
    assert body[0]["buyer_nickname"] == "买家b2"

    Conversation.objects.filter(pk=queued[1].pk).update(priority=True)
    assert [q["id"] for q in call(teammate_client, "get", "queue").json()] == [queued[1].pk, queued[0].pk]
    Conversation.objects.filter(pk=queued[1].pk).update(priority=False)

    RoutingSettings.objects.filter(shop=owner.shop).update(queue_order="lifo")
    assert [q["id"] for q in call(teammate_client, "get", "queue").json()] == [queued[1].pk, queued[0].pk]


def test_queue_is_for_accounts_with_im_permission(shop_a: Shop, queued: list[Conversation]) -> None:
    client = login_client(factories.staff(shop_a, "ops_a", "运营-阿杰", role=Role.OPERATIONS, im=False))
    assert call(client, "get", "queue").status_code == 403
    assert call(client, "post", "queue/pull", {}).status_code == 403


def test_outsider_sees_an_empty_queue(outsider_client: Client, queued: list[Conversation]) -> None:
    assert call(outsider_client, "get", "queue").json() == []


def test_pull_a_given_chat_then_the_head(
    colleague: StaffAccount, supervisor: StaffAccount, queued: list[Conversation]
) -> None:
    response = call(login_client(colleague), "post", "queue/pull", {"conversation_id": queued[1].pk})
    assert response.status_code == 200, response.content
    assert (response.json()["id"], response.json()["state"]) == (queued[1].pk, "active")
    assert response.json()["agent_name"] == "售后-小林"

    sup = login_client(supervisor)
    again = call(sup, "post", "queue/pull", {"conversation_id": queued[1].pk})
    assert again.status_code == 409  # already taken
    head = call(sup, "post", "queue/pull", {})
    assert (head.status_code, head.json()["id"]) == (200, queued[0].pk)
    assert call(sup, "post", "queue/pull", {}).status_code == 409  # the queue is empty
    assert AgentState.objects.get(staff=supervisor).load == 1


def test_pull_without_a_free_seat_is_422(teammate_client: Client, queued: list[Conversation]) -> None:
    assert call(teammate_client, "post", "queue/pull", {}).status_code == 422
    assert Conversation.objects.get(pk=queued[0].pk).state == ConversationState.QUEUED


def test_pulling_another_shops_chat_is_404(outsider_client: Client, queued: list[Conversation]) -> None:
    response = call(outsider_client, "post", "queue/pull", {"conversation_id": queued[0].pk})
    assert response.status_code == 404
    assert Conversation.objects.get(pk=queued[0].pk).state == ConversationState.QUEUED


# --- transfer ----------------------------------------------------------------------------------------------


def test_transfer_moves_the_chat_and_the_seat(
    teammate_client: Client, teammate: StaffAccount, colleague: StaffAccount, teammate_chat: Conversation
) -> None:
    online(colleague)
    path = f"conversations/{teammate_chat.pk}/transfer"
    response = call(teammate_client, "post", path, {"to_agent_id": colleague.pk, "note": "售后问题"})
    assert response.status_code == 200, response.content
    assert response.json()["agent_id"] == colleague.pk
    assert Transfer.objects.get().note == "售后问题"
    assert AgentState.objects.get(staff=teammate).load == 0
    assert AgentState.objects.get(staff=colleague).load == 1


def test_transfer_to_an_offline_agent_is_422(
    teammate_client: Client, colleague: StaffAccount, teammate_chat: Conversation
) -> None:
    path = f"conversations/{teammate_chat.pk}/transfer"
    assert call(teammate_client, "post", path, {"to_agent_id": colleague.pk}).status_code == 422
    long_note = {"to_agent_id": colleague.pk, "note": "x" * 201}
    assert call(teammate_client, "post", path, long_note).status_code == 422
    assert Conversation.objects.get(pk=teammate_chat.pk).agent_id == teammate_chat.agent_id


def test_transfer_to_another_shops_agent_is_404(
    teammate_client: Client, outsider: StaffAccount, teammate_chat: Conversation
) -> None:
    online(outsider)
    path = f"conversations/{teammate_chat.pk}/transfer"
    assert call(teammate_client, "post", path, {"to_agent_id": outsider.pk}).status_code == 404


def test_outsider_cannot_transfer_shop_a_chat(
    outsider_client: Client, outsider: StaffAccount, teammate_chat: Conversation
) -> None:
    online(outsider)
    path = f"conversations/{teammate_chat.pk}/transfer"
    assert call(outsider_client, "post", path, {"to_agent_id": outsider.pk}).status_code == 404


def test_forced_transfer_is_for_supervisors(
    teammate_client: Client,
    supervisor: StaffAccount,
    colleague: StaffAccount,
    teammate_chat: Conversation,
) -> None:
    online(colleague)
    services.set_reception_limit(actor=colleague, staff=colleague, limit=1)
    services.start_proactive(agent=colleague, buyer=factories.order(colleague.shop, "O-7", "b7").buyer)
    path = f"conversations/{teammate_chat.pk}/transfer"
    forced = {"to_agent_id": colleague.pk, "force": True}
    assert call(teammate_client, "post", path, {"to_agent_id": colleague.pk}).status_code == 422  # full
    assert call(teammate_client, "post", path, forced).status_code == 403
    response = call(login_client(supervisor), "post", path, forced)
    assert response.status_code == 200, response.content
    assert Transfer.objects.get().forced


# --- end ---------------------------------------------------------------------------------------------------


def test_end_frees_the_seat_and_ending_twice_is_409(
    teammate_client: Client, teammate: StaffAccount, teammate_chat: Conversation
) -> None:
    path = f"conversations/{teammate_chat.pk}/end"
    response = call(teammate_client, "post", path)
    assert response.status_code == 200, response.content
    assert (response.json()["state"], response.json()["end_reason"]) == ("ended", "agent")
    assert AgentState.objects.get(staff=teammate).load == 0
    assert call(teammate_client, "post", path).status_code == 409


def test_only_the_chats_agent_or_a_supervisor_ends_it(
    colleague: StaffAccount, supervisor: StaffAccount, teammate_chat: Conversation
) -> None:
    path = f"conversations/{teammate_chat.pk}/end"
    assert call(login_client(colleague), "post", path).status_code == 403
    assert call(login_client(supervisor), "post", path).status_code == 200


def test_outsider_cannot_end_shop_a_chat(outsider_client: Client, teammate_chat: Conversation) -> None:
    assert call(outsider_client, "post", f"conversations/{teammate_chat.pk}/end").status_code == 404
    assert Conversation.objects.get(pk=teammate_chat.pk).state == ConversationState.ACTIVE


# --- messages ----------------------------------------------------------------------------------------------


def test_reply_is_stored_once_per_client_msg_id(teammate_client: Client, teammate_chat: Conversation) -> None:
    path = f"conversations/{teammate_chat.pk}/messages"
    body = {"text": "您好，请问有什么可以帮您？", "client_msg_id": "m-1"}
    first = call(teammate_client, "post", path, body)
    assert first.status_code == 200, first.content
    assert (first.json()["sender"], first.json()["seq"]) == ("agent", 1)
    assert call(teammate_client, "post", path, body).json()["id"] == first.json()["id"]
    assert Message.objects.count() == 1
    assert Conversation.objects.get(pk=teammate_chat.pk).first_response_seconds is not None


@pytest.mark.parametrize("text", ["", "x" * 2001])
def test_empty_or_too_long_text_is_422(
    teammate_client: Client, teammate_chat: Conversation, text: str
) -> None:
    path = f"conversations/{teammate_chat.pk}/messages"
    assert call(teammate_client, "post", path, {"text": text, "client_msg_id": "m"}).status_code == 422
    assert not Message.objects.exists()


def test_blank_text_is_422(teammate_client: Client, teammate_chat: Conversation) -> None:
    path = f"conversations/{teammate_chat.pk}/messages"
    assert call(teammate_client, "post", path, {"text": "   "}).status_code == 422


def test_history_is_repliable_for_72_hours(
    teammate_client: Client, teammate: StaffAccount, teammate_chat: Conversation
) -> None:
    services.end_conversation(conversation=teammate_chat, reason="agent", by=teammate)
    path = f"conversations/{teammate_chat.pk}/messages"
    assert call(teammate_client, "post", path, {"text": "补充说明"}).status_code == 200
    Conversation.objects.filter(pk=teammate_chat.pk).update(ended_at=timezone.now() - timedelta(hours=73))
    response = call(teammate_client, "post", path, {"text": "还在吗"})
    assert response.status_code == 422
    assert "72" in response.json()["detail"]


def test_only_the_chats_agent_replies(
    colleague: StaffAccount, outsider_client: Client, teammate_chat: Conversation
) -> None:
    path = f"conversations/{teammate_chat.pk}/messages"
    assert call(login_client(colleague), "post", path, {"text": "hi"}).status_code == 403
    assert call(outsider_client, "post", path, {"text": "hi"}).status_code == 404
    assert not Message.objects.exists()


# --- proactive chats ---------------------------------------------------------------------------------------


@pytest.fixture
def recent_buyer(shop_a: Shop) -> Buyer:
    factories.buyer(shop_a, "b9", "回头客小张")
    return factories.order(shop_a, "O-100", "b9").buyer


def test_find_buyers_with_a_recent_order(
    teammate_client: Client, outsider_client: Client, recent_buyer: Buyer
) -> None:
    found = call(teammate_client, "get", "proactive/buyers?q=O-100").json()
    assert [b["id"] for b in found] == [recent_buyer.pk]
    assert [b["id"] for b in call(teammate_client, "get", "proactive/buyers?q=小张").json()] == [
        recent_buyer.pk
    ]
    assert call(teammate_client, "get", "proactive/buyers?q=").json() == []
    assert call(outsider_client, "get", "proactive/buyers?q=O-100").json() == []


def test_start_a_proactive_chat(teammate_client: Client, teammate: StaffAccount, recent_buyer: Buyer) -> None:
    response = call(teammate_client, "post", "proactive", {"buyer_id": recent_buyer.pk})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["state"], body["proactive"], body["agent_id"]) == ("active", True, teammate.pk)
    assert AgentState.objects.get(staff=teammate).load == 1
    assert call(teammate_client, "post", "proactive", {"buyer_id": recent_buyer.pk}).status_code == 409


def test_proactive_needs_a_recent_order_and_a_shop_a_buyer(
    teammate_client: Client, outsider_client: Client, shop_a: Shop, recent_buyer: Buyer
) -> None:
    stranger = factories.buyer(shop_a, "b10", "没下单的人")
    assert call(teammate_client, "post", "proactive", {"buyer_id": stranger.pk}).status_code == 422
    assert call(outsider_client, "post", "proactive", {"buyer_id": recent_buyer.pk}).status_code == 404
    assert not Conversation.objects.exists()


# --- settings ----------------------------------------------------------------------------------------------


def test_settings_default_and_owner_changes_them(owner_client: Client, teammate: StaffAccount) -> None:
    assert call(owner_client, "get", "settings").json() == {
        "queue_order": "fifo",
        "no_queue": False,
        "new_buyer_priority": False,
        "offline_routing": False,
        "offline_mode": "queue",
        "pool_holder_id": None,
        "pool_auto_drain": False,
        "owner_routes_in_simple_mode": True,
    }
    response = call(
        owner_client,
        "put",
        "settings",
        {"queue_order": "lifo", "no_queue": True, "pool_holder_id": teammate.pk},
    )
    assert response.status_code == 200, response.content
    assert response.json()["queue_order"] == "lifo"
    saved = RoutingSettings.objects.get(shop=teammate.shop)
    assert (saved.queue_order, saved.no_queue, saved.pool_holder_id) == ("lifo", True, teammate.pk)
    assert call(owner_client, "put", "settings", {"pool_holder_id": None}).json()["pool_holder_id"] is None
    assert call(owner_client, "get", "settings").json()["no_queue"] is True  # left out: unchanged


def test_supervisor_manages_routing_but_not_the_queue_order(supervisor: StaffAccount) -> None:
    client = login_client(supervisor)
    assert call(client, "put", "settings", {"offline_routing": True}).status_code == 200
    assert call(client, "put", "settings", {"queue_order": "fifo"}).status_code == 200  # unchanged value
    response = call(client, "put", "settings", {"queue_order": "lifo", "no_queue": True})
    assert response.status_code == 403
    saved = RoutingSettings.objects.get(shop=supervisor.shop)
    assert (saved.queue_order, saved.no_queue, saved.offline_routing) == ("fifo", False, True)


def test_agent_cannot_change_settings(teammate_client: Client, teammate: StaffAccount) -> None:
    assert call(teammate_client, "get", "settings").status_code == 200
    assert call(teammate_client, "put", "settings", {"no_queue": True}).status_code == 403
    assert not RoutingSettings.objects.filter(shop=teammate.shop, no_queue=True).exists()


@pytest.mark.parametrize(
    "body", [{"queue_order": "random"}, {"no_queue": None}, {"queue_order": None}, {"unknown": 1}]
)
def test_bad_settings_are_422(owner_client: Client, body: dict[str, Any]) -> None:
    assert call(owner_client, "put", "settings", body).status_code == 422


def test_pool_holder_must_be_an_active_account_of_the_shop(
    owner_client: Client, outsider: StaffAccount, colleague: StaffAccount
) -> None:
    assert call(owner_client, "put", "settings", {"pool_holder_id": outsider.pk}).status_code == 404
    StaffAccount.objects.filter(pk=colleague.pk).update(is_active=False)
    assert call(owner_client, "put", "settings", {"pool_holder_id": colleague.pk}).status_code == 422
    assert not RoutingSettings.objects.filter(pool_holder__isnull=False).exists()


def test_outsider_changes_only_their_own_settings(
    outsider_client: Client, shop_a: Shop, shop_b: Shop
) -> None:
    assert call(outsider_client, "put", "settings", {"queue_order": "lifo"}).status_code == 200
    assert RoutingSettings.objects.get(shop=shop_b).queue_order == "lifo"
    assert RoutingSettings.objects.get(shop=shop_a).queue_order == "fifo"


# --- routing trace -----------------------------------------------------------------------------------------


def test_trace_shows_the_rule_winner_and_candidates(
    teammate_client: Client, teammate: StaffAccount, teammate_chat: Conversation
) -> None:
    response = call(teammate_client, "get", f"conversations/{teammate_chat.pk}/trace")
    assert response.status_code == 200, response.content
    [decision] = response.json()
    assert (decision["rule"], decision["outcome"]) == ("simple_mode/idle_ratio", "assigned")
    assert (decision["winner_id"], decision["winner_name"]) == (teammate.pk, "售前-小美")
    assert decision["candidates"] == [
        {
            "staff_id": teammate.pk,
            "name": "售前-小美",
            "load": 0,
            "max": 10,
            "idle_ratio": 1.0,
            "weight": 1,
            "share": 0.0,
        }
    ]
    assert decision["created_at"]


def test_trace_of_someone_elses_chat_needs_the_routing_right(
    colleague: StaffAccount, supervisor: StaffAccount, teammate_chat: Conversation
) -> None:
    path = f"conversations/{teammate_chat.pk}/trace"
    assert call(login_client(colleague), "get", path).status_code == 403
    assert call(login_client(supervisor), "get", path).status_code == 200


def test_outsider_cannot_read_shop_a_trace(outsider_client: Client, teammate_chat: Conversation) -> None:
    assert call(outsider_client, "get", f"conversations/{teammate_chat.pk}/trace").status_code == 404


# --- session, CSRF, schema ---------------------------------------------------------------------------------


def test_routing_endpoints_need_a_session(client: Client, db: Any) -> None:
    assert call(client, "get", "me/state").status_code == 401
    assert call(client, "put", "settings", {"no_queue": True}).status_code == 401


def test_session_writes_need_the_csrf_token(teammate: StaffAccount) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(teammate.user)
    assert call(client, "put", "me/status", {"status": "online"}).status_code == 403
    assert call(client, "post", "queue/pull", {}).status_code == 403
    assert not AgentState.objects.filter(staff=teammate, status="online").exists()

    token = "a" * 32
    client.cookies["csrftoken"] = token
    response = client.put(
        API + "me/status", json.dumps({"status": "online"}), "application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200, response.content


def test_openapi_lists_the_routing_paths(client: Client) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    expected = {
        "me/state",
        "me/status",
        "me/limit",
        "queue",
        "queue/pull",
        "conversations/{conversation_id}/transfer",
        "conversations/{conversation_id}/end",
        "conversations/{conversation_id}/messages",
        "conversations/{conversation_id}/trace",
        "proactive/buyers",
        "proactive",
        "settings",
    }
    assert {f"/api/v1/routing/{p}" for p in expected} <= set(schema["paths"])
    operation = schema["paths"]["/api/v1/routing/settings"]["put"]
    assert operation["tags"] == ["routing"] and operation["summary"] and operation["description"]


@pytest.mark.parametrize("path", ["/api/v1/me/reception-limit", "/api/v1/routing/me/limit"])
def test_both_ways_to_set_my_limit_serve_the_queue_at_once(
    shop_a: Shop, teammate: StaffAccount, teammate_client: Client, owner_offline: StaffAccount, path: str
) -> None:
    StaffAccount.objects.filter(pk=teammate.pk).update(max_concurrent=1)
    online(teammate)
    chat(shop_a, "first")
    waiting = chat(shop_a, "second")
    assert waiting.state == ConversationState.QUEUED

    response = api_call(teammate_client, "put", path, {"limit": 2})

    assert response.status_code == 200, response.content
    waiting.refresh_from_db()
    assert (waiting.state, waiting.agent_id) == (ConversationState.ACTIVE, teammate.pk)
    assert StaffAccount.objects.get(pk=teammate.pk).max_concurrent == 2
