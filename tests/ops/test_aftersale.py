"""The after-sale workbench: the seed's four cases, their guide and way through the state machine, refused
transitions, the integration's push, an agent's request from the chat, and the buyer panel's actions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from backoffice.errors import Conflict, Invalid
from backoffice.models import AfterSaleRequest, AfterSaleState, AfterSaleStep, Shop, StaffAccount
from backoffice.operations import aftersale
from tests.backoffice import factories
from tests.conftest import login_client

pytestmark = pytest.mark.django_db
S = AfterSaleState


def request_for(
    shop: Shop, number: str, status: str, kind: str, reason: str = "not_wanted"
) -> AfterSaleRequest:
    order = factories.order(shop, number, status=status)
    return aftersale.create_request(shop=shop, order=order, kind=kind, reason=reason)


def walk(staff: StaffAccount, req: AfterSaleRequest, *steps: tuple[str, str]) -> list[str]:
    states = []
    for action, detail in steps:
        req = aftersale.act(actor=staff, request=req, action=action, detail=detail)
        states.append(req.state)
    return states


@pytest.mark.parametrize(
    ("status", "kind", "steps", "states", "first_phrase"),
    [
        ("to_ship", "refund_only", [("agree", ""), ("refund", "")], [S.AGREED, S.REFUNDED], "sh11"),
        (
            "shipped",
            "refund_only",
            [("intercept", ""), ("record_return", "SF123"), ("refund", "")],
            [S.INTERCEPTED, S.RETURNING, S.REFUNDED],
            "sh12",
        ),
        (
            "delivered",
            "return_refund",
            [("agree", ""), ("record_return", "YT9"), ("refund", "")],
            [S.AGREED, S.RETURNING, S.REFUNDED],
            "sh13",
        ),
        ("delivered", "refund_only", [("refuse", "商品已使用，不支持仅退款")], [S.REFUSED], "sh14"),
    ],
)
def test_each_seed_case_has_its_guide_and_way_through(
    shop_a: Shop, owner: StaffAccount, status: str, kind: str, steps: Any, states: Any, first_phrase: str
) -> None:
    req = request_for(shop_a, "AS-ORDER", status, kind)
    assert aftersale.guide(req).phrases[0] == first_phrase
    assert walk(owner, req, *steps) == states
    assert aftersale.next_actions(AfterSaleRequest.objects.get(pk=req.pk)) == []
    assert list(AfterSaleStep.objects.filter(request=req).values_list("state", flat=True)) == states


def test_shipped_refund_only_must_be_intercepted_not_agreed(shop_a: Shop, owner: StaffAccount) -> None:
    req = request_for(shop_a, "O-SH", "shipped", "refund_only")
    assert aftersale.next_actions(req) == ["refuse", "intercept"]
    with pytest.raises(Invalid) as refused:
        aftersale.act(actor=owner, request=req, action="agree")
    assert refused.value.errors == [{"field": "action", "message": "requested -> agree"}]
    with pytest.raises(Invalid):
        aftersale.act(actor=owner, request=req, action="refund")
    req.refresh_from_db()
    assert req.state == S.REQUESTED and not AfterSaleStep.objects.exists()


def test_refund_before_the_return_is_tracked_is_refused(shop_a: Shop, owner: StaffAccount) -> None:
    req = request_for(shop_a, "O-RR", "delivered", "return_refund")
    walk(owner, req, ("agree", ""))
    req.refresh_from_db()
    with pytest.raises(Invalid):
        aftersale.act(actor=owner, request=req, action="refund")
    with pytest.raises(Invalid) as missing:
        aftersale.act(actor=owner, request=req, action="record_return", detail="  ")
    assert missing.value.errors == [{"field": "detail", "message": "required"}]


def test_refusal_needs_a_reason(shop_a: Shop, owner: StaffAccount) -> None:
    req = request_for(shop_a, "O-R", "delivered", "refund_only")
    with pytest.raises(Invalid) as missing:
        aftersale.act(actor=owner, request=req, action="refuse", detail="")
    assert missing.value.errors == [{"field": "detail", "message": "required"}]


def test_quality_reason_is_flagged_in_the_guide(shop_a: Shop) -> None:
    req = request_for(shop_a, "O-Q", "delivered", "return_refund", reason="quality")
    plain = request_for(shop_a, "O-P", "delivered", "return_refund")
    assert aftersale.guide(req).text != aftersale.guide(plain).text


def test_two_clicks_from_the_same_state_the_second_is_a_conflict(shop_a: Shop, owner: StaffAccount) -> None:
    req = request_for(shop_a, "O-C", "to_ship", "refund_only")
    stale = AfterSaleRequest.objects.get(pk=req.pk)
    aftersale.act(actor=owner, request=req, action="agree")
    with pytest.raises(Conflict):
        aftersale.act(actor=owner, request=stale, action="agree")
    assert AfterSaleStep.objects.count() == 1


def test_an_order_has_one_open_request_at_a_time(shop_a: Shop) -> None:
    req = request_for(shop_a, "O-1", "to_ship", "refund_only")
    with pytest.raises(Conflict):
        aftersale.create_request(shop=shop_a, order=req.order, kind="refund_only", reason="other")


def post(client: Client, url: str, body: Any, **headers: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


def test_integration_pushes_requests_idempotently(client: Client, shop_a: Shop, key_a: str) -> None:
    factories.order(shop_a, "O-API", status="shipped")
    record = {"number": "AS1", "order_number": "O-API", "kind": "refund_only", "reason": "wrong_address"}
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key_a}"}
    assert post(client, "/api/v1/ops/after-sales", {"records": [record]}, **auth).status_code == 200
    assert post(client, "/api/v1/ops/after-sales", {"records": [record]}, **auth).status_code == 200
    req = AfterSaleRequest.objects.get()
    assert (req.order_state, req.state) == ("shipped", S.REQUESTED)
    bad = {**record, "number": "AS2", "order_number": "NOPE"}
    assert post(client, "/api/v1/ops/after-sales", {"records": [bad]}, **auth).status_code == 422
    assert (
        post(client, "/api/v1/ops/after-sales", {"records": [{**record, "kind": "x"}]}, **auth).status_code
        == 422
    )
    assert AfterSaleRequest.objects.count() == 1


def test_agent_opens_a_request_from_the_chat_and_acts(
    shop_a: Shop, teammate: StaffAccount, outsider: StaffAccount
) -> None:
    order = factories.order(shop_a, "O-CHAT", status="to_ship")
    client = login_client(teammate)
    made = post(
        client, f"/api/v1/ops/orders/{order.pk}/after-sales", {"kind": "refund_only", "reason": "not_wanted"}
    )
    assert made.status_code == 201
    body = made.json()
    assert (body["state"], body["actions"], body["phrases"]) == ("requested", ["agree", "refuse"], ["sh11"])
    url = f"/api/v1/ops/after-sales/{body['id']}/actions"
    assert post(client, url, {"action": "refund"}).status_code == 422  # not yet agreed
    assert post(client, url, {"action": "fly"}).status_code == 422
    assert post(login_client(outsider), url, {"action": "agree"}).status_code == 404
    assert (
        post(
            login_client(outsider),
            f"/api/v1/ops/orders/{order.pk}/after-sales",
            {"kind": "refund_only", "reason": "other"},
        ).status_code
        == 404
    )
    agreed = post(client, url, {"action": "agree"})
    assert agreed.status_code == 200 and agreed.json()["actions"] == ["refund"]
    assert AfterSaleRequest.objects.get().created_by_id == teammate.pk


def test_buyer_panel_shows_the_request_with_its_guide_and_open_actions(
    shop_a: Shop, owner: StaffAccount
) -> None:
    from routing import services as routing_services

    req = request_for(shop_a, "O-PANEL", "shipped", "refund_only")
    conversation, _decision = routing_services.request_human(buyer=req.order.buyer)
    text = login_client(owner).get(f"/workbench/buyer/{conversation.pk}/").content.decode()
    assert f'data-id="{req.pk}"' in text and "/sh12" in text
    assert 'data-action="intercept">' in text  # open now: shown
    assert 'data-action="refund" hidden' in text  # not yet: hidden
    assert f'class="as-new" data-order="{req.order_id}"' not in text  # one open request an order


def test_operations_page_acts_with_a_plain_form(shop_a: Shop, supervisor: StaffAccount) -> None:
    req = request_for(shop_a, "O-FORM", "delivered", "refund_only")
    client = login_client(supervisor)
    assert "O-FORM" in client.get("/ops/").content.decode()
    refused = client.post(f"/ops/after-sales/{req.pk}/act/", {"action": "refund"})
    assert refused.status_code == 422
    assert (
        client.post(f"/ops/after-sales/{req.pk}/act/", {"action": "refuse", "detail": "已使用"}).status_code
        == 302
    )
    req.refresh_from_db()
    assert (req.state, req.refuse_reason) == (S.REFUSED, "已使用")
    assert "O-FORM" not in client.get("/ops/").content.decode()


def test_another_shops_request_is_404_on_the_page(shop_a: Shop, outsider: StaffAccount) -> None:
    req = request_for(shop_a, "O-X", "to_ship", "refund_only")
    assert (
        login_client(outsider).post(f"/ops/after-sales/{req.pk}/act/", {"action": "agree"}).status_code == 404
    )
    req.refresh_from_db()
    assert req.state == S.REQUESTED


def test_markup_in_the_buyers_note_is_shown_as_text(shop_a: Shop, supervisor: StaffAccount) -> None:
    order = factories.order(shop_a, "O-M", status="to_ship")
    aftersale.create_request(shop=shop_a, order=order, kind="refund_only", reason="other", note="<img src=x>")
    text = login_client(supervisor).get("/ops/").content.decode()
    assert "&lt;img src=x&gt;" in text and "<img src=x>" not in text
