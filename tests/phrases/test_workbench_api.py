"""What the workbench adds to the phrases API: ``conversation_id`` on ``/{id}/use`` and ``/render`` fills the
variables from the conversation (shop-scoped: another shop's conversation is a 404), and ``unfilled`` names
the facts left as a 【】 marker."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from backoffice.models import Shop, StaffAccount
from phrases.models import Phrase, PhraseUse
from routing import services as routing_services
from routing.models import Conversation
from tests.backoffice import factories
from tests.phrases.conftest import team_phrase
from tests.phrases.test_api import call

CONTENT = "{买家昵称}您好，订单 {订单号} 将于 {发货时间} 发出，{商品名称}库存充足"


def conversation(shop: Shop, platform_id: str, nickname: str, **kw: Any) -> Conversation:
    conv, _decision = routing_services.request_human(buyer=factories.buyer(shop, platform_id, nickname), **kw)
    return conv


@pytest.fixture
def phrase(owner: StaffAccount) -> Phrase:
    return team_phrase(owner, CONTENT, code="fh")


def test_use_fills_the_variables_from_the_conversation(
    teammate_client: Client, teammate: StaffAccount, shop_a: Shop, phrase: Phrase
) -> None:
    ship_by = datetime(2025, 6, 18, 16, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # the shop's time zone
    # The newest order is the one named; its ship-by comes after it was placed (an earlier one is refused).
    factories.order(shop_a, "6930001", "w1", created_at=ship_by - timedelta(days=1), ship_by=ship_by)
    factories.order(shop_a, "6930000", "w1", created_at=ship_by - timedelta(days=9))
    cup = factories.product(shop_a, "p9", "北欧风陶瓷马克杯")
    conv = conversation(shop_a, "w1", "小王", source_product=cup)

    body = call(teammate_client, "post", f"{phrase.pk}/use", {"conversation_id": conv.pk}).json()

    assert body["text"] == "小王您好，订单 6930001 将于 6月18日 发出，北欧风陶瓷马克杯库存充足"
    assert (body["missing"], body["unfilled"]) == ([], [])
    assert PhraseUse.objects.filter(staff=teammate, phrase=phrase).exists()


def test_use_without_an_order_leaves_markers_and_names_them_unfilled(
    teammate_client: Client, shop_a: Shop, phrase: Phrase
) -> None:
    conv = conversation(shop_a, "w2", "小李")
    body = call(teammate_client, "post", f"{phrase.pk}/use", {"conversation_id": conv.pk}).json()
    assert body["text"] == "小李您好，订单 【订单号】 将于 【发货时间】 发出，这款商品库存充足"
    assert body["missing"] == ["order_number", "ship_date", "product_title"]
    assert body["unfilled"] == ["order_number", "ship_date"]  # 这款商品 can be sent; markers cannot


def test_explicit_context_overrides_the_conversation(
    teammate_client: Client, shop_a: Shop, phrase: Phrase
) -> None:
    conv = conversation(shop_a, "w3", "小张")
    body = call(
        teammate_client,
        "post",
        f"{phrase.pk}/use",
        {"conversation_id": conv.pk, "context": {"buyer_nickname": "张先生", "订单号": "A1"}},
    ).json()
    assert body["text"].startswith("张先生您好，订单 A1 将于 【发货时间】")
    assert body["unfilled"] == ["ship_date"]


def test_render_fills_from_the_conversation_without_recording(
    teammate_client: Client, shop_a: Shop, phrase: Phrase
) -> None:
    conv = conversation(shop_a, "w4", "<script>alert(1)</script>")
    body = call(
        teammate_client, "post", "render", {"content": "{buyer}，{agent}为您服务", "conversation_id": conv.pk}
    )
    assert body.json() == {
        "image": None,
        "phrase_id": None,
        "text": "<script>alert(1)</script>，售前-小美为您服务",
        "missing": [],
        "unfilled": [],
    }
    assert not PhraseUse.objects.exists()


def test_another_shops_conversation_is_404_and_records_nothing(
    outsider_client: Client, outsider: StaffAccount, shop_a: Shop
) -> None:
    conv = conversation(shop_a, "w5", "A店买家")
    theirs = team_phrase(outsider, "{买家昵称}您好", code="hi")
    response = call(outsider_client, "post", f"{theirs.pk}/use", {"conversation_id": conv.pk})
    assert response.status_code == 404
    assert (
        call(outsider_client, "post", "render", {"content": "x", "conversation_id": conv.pk}).status_code
        == 404
    )
    theirs.refresh_from_db()
    assert theirs.usage_count == 0 and not PhraseUse.objects.exists()


def test_an_unknown_conversation_is_404(teammate_client: Client, phrase: Phrase) -> None:
    assert call(teammate_client, "post", f"{phrase.pk}/use", {"conversation_id": 999_999}).status_code == 404
