"""Assist mode (GET /api/v1/robot/assist): the best answers for the buyer's last message, for those who may
read the conversation only."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from backoffice.models import Shop, StaffAccount
from robot.models import RecommendedReply
from routing.models import Conversation
from tests.backoffice import factories
from tests.conftest import login_client
from tests.robot.conftest import say

API = "/api/v1/robot/assist"


def served_chat(shop: Shop, agent: StaffAccount) -> Conversation:
    """A chat with ``agent`` (the robot off) whose buyer asked where the parcel is."""
    factories.order(
        shop,
        "S1",
        "b1",
        status="shipped",
        shipped_at=timezone.now() - timedelta(days=1),
        carrier="中通快递",
        tracking_number="ZT9",
    )
    buyer = factories.buyer(shop, "b1", "小王")
    conv = say(buyer, "你好", "m1").conversation
    say(buyer, "我的快递到哪了", "m2")
    conv = Conversation.objects.get(pk=conv.pk)
    assert conv.agent_id == agent.pk
    return conv


def test_the_agent_gets_knowledge_answers_rendered_for_the_chat_and_recommended_replies(
    shop_a: Shop, online_agent: StaffAccount
) -> None:
    conv = served_chat(shop_a, online_agent)
    RecommendedReply.objects.create(
        shop=shop_a,
        intent="logistics",
        text="亲，物流在路上了",
        times_used=7,
        average_rating=4.8,
        rank=1,
        computed_at=timezone.now(),
    )
    response = login_client(online_agent).get(API, {"conversation": conv.pk})
    assert response.status_code == 200
    data = response.json()
    assert (data["text"], data["intent"]) == ("我的快递到哪了", "logistics")
    best = data["knowledge"][0]
    assert best["confident"] and "ZT9" in best["answer"] and "中通快递" in best["answer"]
    assert data["recommended"] == [
        {
            "id": data["recommended"][0]["id"],
            "text": "亲，物流在路上了",
            "times_used": 7,
            "average_rating": 4.8,
        }
    ]


def test_a_chat_without_a_buyer_message_has_no_suggestion(shop_a: Shop, online_agent: StaffAccount) -> None:
    from routing import services

    conv, _decision = services.request_human(buyer=factories.buyer(shop_a, "b2"))
    data = login_client(online_agent).get(API, {"conversation": conv.pk}).json()
    assert (data["message_id"], data["knowledge"], data["recommended"]) == (None, [], [])


def test_another_shops_chat_is_a_404_and_a_colleagues_a_403(
    shop_a: Shop, online_agent: StaffAccount, outsider_client: Client, teammate_client: Client
) -> None:
    conv = served_chat(shop_a, online_agent)
    assert outsider_client.get(API, {"conversation": conv.pk}).status_code == 404
    assert teammate_client.get(API, {"conversation": conv.pk}).status_code == 403


def test_bad_ids_are_422_and_signed_out_is_401(client: Client, owner_client: Client) -> None:
    for value in ("abc", "0", "-1", "99999999999999999999999"):
        assert owner_client.get(API, {"conversation": value}).status_code == 422
    assert owner_client.get(API).status_code == 422
    assert client.get(API, {"conversation": 1}).status_code == 401


def test_the_workbench_shows_the_assist_panel_with_its_script_and_strings(teammate_client: Client) -> None:
    page = teammate_client.get("/workbench/").content.decode()
    assert 'id="assist-panel"' in page and "robot/assist.js" in page and "robot/assist.css" in page
    assert page.index("robot/assist.js") < page.index("routing/workbench.js")
