"""Intent routing of the robot's hand-offs, through the API: buyers, products and orders pushed by the
integration API, groups scoped by product, intent and order state; the robot's hand-off of a logistics
conversation lands in the logistics group, between the product scope (which wins) and the order-state scope
(which loses), as the routing trace the API shows says."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from backoffice.models import Buyer, Product, Shop, StaffAccount
from robot.reception_config import save_reception
from routing import config, services
from routing.models import AgentGroup, Conversation
from tests.backoffice import factories
from tests.robot.conftest import say


def push(client: Client, path: str, records: list[dict[str, Any]], key: str) -> None:
    response = client.post(
        f"/api/v1/{path}",
        json.dumps({"records": records}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200, response.content


def shipped(number: str, buyer: str) -> dict[str, Any]:
    return {
        "number": number,
        "buyer_platform_id": buyer,
        "status": "shipped",
        "total_amount": "79.80",
        "paid_amount": "79.80",
        "created_at": "2026-11-20T10:00:00+08:00",
        "paid_at": "2026-11-20T10:01:00+08:00",
        "shipped_at": "2026-11-21T10:01:00+08:00",
        "carrier": "顺丰速运",
        "tracking_number": f"SF-{number}",
        "items": [{"title": "马克杯", "product_platform_id": "sku_1", "quantity": 1, "unit_price": "79.80"}],
    }


@pytest.fixture
def groups(shop_a: Shop, owner: StaffAccount, client: Client, key_a: str) -> dict[str, StaffAccount]:
    push(client, "buyers", [{"platform_id": p, "nickname": p} for p in ("g1", "g2", "g3")], key_a)
    push(client, "products", [{"platform_id": "sku_1", "title": "马克杯", "price": "79.80"}], key_a)
    push(client, "orders", [shipped("G1", "g1"), shipped("G2", "g2"), shipped("G3", "g3")], key_a)
    save_reception(shop_a, {"full_auto": True})
    services.set_agent_status(staff=owner, status="offline")
    product = Product.objects.get(shop=shop_a, platform_id="sku_1")
    scopes = {
        "product": (AgentGroup(name="单品组"), [product]),
        "logistics": (AgentGroup(name="物流组", intents=["logistics"]), []),
        "shipped": (AgentGroup(name="售后组", order_states=["shipped"]), []),
    }
    agents = {}
    for name, (group, products) in scopes.items():
        saved = config.save_group(actor=owner, group=group, products=products)
        staff = factories.staff(shop_a, f"agent_{name}", f"客服-{name}")
        services.configure_agent(staff=staff, group=saved, weight=1, routing=True, offline_routing=False)
        services.set_agent_status(staff=staff, status="online")
        agents[name] = staff
    return agents


def trace_of(owner_client: Client, conv: Conversation) -> dict[str, Any]:
    response = owner_client.get(f"/api/v1/routing/conversations/{conv.pk}/trace")
    assert response.status_code == 200
    decisions: list[dict[str, Any]] = response.json()
    return decisions[-1]


def handed_over(buyer: Buyer, *texts: str, product: Product | None = None) -> Conversation:
    for n, text in enumerate(texts):
        conv = say(buyer, text, f"{buyer.pk}-{n}", product).conversation
    return Conversation.objects.get(pk=conv.pk)


def test_the_intent_group_receives_the_robots_logistics_hand_offs(
    shop_a: Shop, groups: dict[str, StaffAccount], owner_client: Client
) -> None:
    buyer = Buyer.objects.get(shop=shop_a, platform_id="g1")
    conv = handed_over(buyer, "你好", "快递到哪了", "转人工")
    assert (conv.intent, conv.agent_id) == ("logistics", groups["logistics"].pk)
    assert trace_of(owner_client, conv)["rule"] == "group_by_intent/idle_ratio"


def test_the_product_scope_comes_before_the_intent(
    shop_a: Shop, groups: dict[str, StaffAccount], owner_client: Client
) -> None:
    buyer = Buyer.objects.get(shop=shop_a, platform_id="g2")
    product = Product.objects.get(shop=shop_a, platform_id="sku_1")
    conv = handed_over(buyer, "快递到哪了", "转人工", product=product)
    assert (conv.intent, conv.agent_id) == ("logistics", groups["product"].pk)
    assert trace_of(owner_client, conv)["rule"] == "group_by_product/idle_ratio"


def test_without_that_intent_the_order_state_decides(
    shop_a: Shop, groups: dict[str, StaffAccount], owner_client: Client
) -> None:
    buyer = Buyer.objects.get(shop=shop_a, platform_id="g3")
    conv = handed_over(buyer, "我想开发票", "转人工")
    assert (conv.intent, conv.agent_id) == ("invoice", groups["shipped"].pk)
    assert trace_of(owner_client, conv)["rule"] == "group_by_order_state/idle_ratio"
