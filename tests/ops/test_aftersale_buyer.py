"""After-sale steps move the order's after-sale status (through the shop-domain service) and tell the buyer
in their chat what they must know: agreed, refused with the reason, parcel intercepted, refunded."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from backoffice.errors import Conflict
from backoffice.models import AfterSaleRequest, Order, Shop, StaffAccount
from backoffice.operations import aftersale
from routing.models import Message
from tests.backoffice import factories
from tests.conftest import login_client

pytestmark = pytest.mark.django_db


def request_for(shop: Shop, number: str, status: str, kind: str) -> AfterSaleRequest:
    order = factories.order(shop, number, f"buyer-{number}", status=status)
    return aftersale.create_request(shop=shop, order=order, kind=kind, reason="not_wanted")


def after_sale_status(req: AfterSaleRequest) -> str:
    return Order.objects.get(pk=req.order_id).after_sale_status


def buyer_messages(req: AfterSaleRequest) -> list[str]:
    return list(
        Message.objects.filter(conversation__buyer_id=req.order.buyer_id, sender="system")
        .order_by("pk")
        .values_list("text", flat=True)
    )


@pytest.mark.parametrize(
    ("status", "kind", "steps", "statuses", "told"),
    [
        (
            "to_ship",
            "refund_only",
            [("agree", ""), ("refund", "")],
            ["refund_requested", "refunded"],
            ["同意", "已退款"],
        ),
        (
            "shipped",
            "refund_only",
            [("intercept", ""), ("record_return", "SF123"), ("refund", "")],
            ["refund_requested", "returning", "refunded"],
            ["拒收", "已退款"],
        ),
        (
            "delivered",
            "return_refund",
            [("agree", ""), ("record_return", "YT9"), ("refund", "")],
            ["return_requested", "returning", "refunded"],
            ["寄回", "已退款"],
        ),
        ("delivered", "refund_only", [("refuse", "商品已使用，不支持仅退款")], ["rejected"], ["商品已使用"]),
    ],
)
def test_each_step_moves_the_orders_after_sale_status_and_tells_the_buyer_what_they_must_know(
    shop_a: Shop,
    owner: StaffAccount,
    status: str,
    kind: str,
    steps: list[tuple[str, str]],
    statuses: list[str],
    told: list[str],
) -> None:
    req = request_for(shop_a, f"AS-{status}-{kind}", status, kind)
    assert after_sale_status(req) == ("refund_requested" if kind == "refund_only" else "return_requested")
    seen = []
    for action, detail in steps:
        req = aftersale.act(actor=owner, request=req, action=action, detail=detail)
        seen.append(after_sale_status(req))
    assert seen == statuses
    messages = buyer_messages(req)
    assert len(messages) == len(told)  # recording the return's tracking number tells the buyer nothing new
    for text, word in zip(messages, told, strict=True):
        assert word in text and req.order.number in text


def test_a_refused_step_changes_nothing_and_tells_the_buyer_nothing(
    shop_a: Shop, owner: StaffAccount
) -> None:
    req = request_for(shop_a, "AS-STALE", "to_ship", "refund_only")
    stale = AfterSaleRequest.objects.get(pk=req.pk)
    aftersale.act(actor=owner, request=req, action="agree")
    with pytest.raises(Conflict):
        aftersale.act(actor=owner, request=stale, action="refuse", detail="不符合条件")
    assert after_sale_status(req) == "refund_requested"
    assert len(buyer_messages(req)) == 1


def test_a_failing_notice_rolls_the_step_back(shop_a: Shop, owner: StaffAccount, monkeypatch: Any) -> None:
    req = request_for(shop_a, "AS-FAIL", "to_ship", "refund_only")

    def broken(**_kwargs: Any) -> None:
        raise RuntimeError("chat down")

    monkeypatch.setattr(aftersale, "buyer_notifier", lambda: broken)
    with pytest.raises(RuntimeError):
        aftersale.act(actor=owner, request=req, action="agree")
    assert AfterSaleRequest.objects.get(pk=req.pk).state == "requested"
    assert after_sale_status(req) == "refund_requested"


def test_pushed_requests_set_their_orders_status_and_a_repush_keeps_the_later_one(
    client: Client, shop_a: Shop, key_a: str, owner: StaffAccount
) -> None:
    factories.order(shop_a, "P-1", "pb1", status="delivered")
    factories.order(shop_a, "P-2", "pb2", status="to_ship")
    body = {
        "records": [
            {"number": "R1", "order_number": "P-1", "kind": "return_refund", "reason": "quality"},
            {"number": "R2", "order_number": "P-2", "kind": "refund_only", "reason": "not_wanted"},
        ]
    }

    def push() -> Any:
        return client.post(
            "/api/v1/ops/after-sales",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key_a}",
        )

    assert push().status_code == 200
    statuses = dict(Order.objects.filter(shop=shop_a).values_list("number", "after_sale_status"))
    assert (statuses["P-1"], statuses["P-2"]) == ("return_requested", "refund_requested")
    aftersale.act(actor=owner, request=AfterSaleRequest.objects.get(number="R2"), action="agree")
    aftersale.act(
        actor=owner, request=AfterSaleRequest.objects.get(number="R2"), action="refund"
    )  # done: refunded
    assert push().status_code == 200
    assert Order.objects.get(number="P-2").after_sale_status == "refunded"


def test_the_api_action_posts_the_buyers_message_once(shop_a: Shop, supervisor: StaffAccount) -> None:
    req = request_for(shop_a, "AS-API", "delivered", "refund_only")
    client = login_client(supervisor)
    url = f"/api/v1/ops/after-sales/{req.pk}/actions"
    body = {"action": "refuse", "detail": "<b>已超过售后期</b>"}
    assert client.post(url, body, content_type="application/json").status_code == 200
    assert client.post(url, body, content_type="application/json").status_code in {409, 422}
    told = f"很抱歉，您的订单 {req.order.number} 的售后申请未通过：<b>已超过售后期</b>"
    assert buyer_messages(req) == [told]  # stored as text: the chat renders it escaped
