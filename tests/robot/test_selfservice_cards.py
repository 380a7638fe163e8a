"""Self-service cards (issue 16): the cards of every order state, the shop's choice and urge threshold, the
actions through the shop-domain services recorded in the chat, and a buyer acting on someone else's order."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from backoffice.errors import Conflict, Forbidden, Invalid, NotFound
from backoffice.models import AddressChange, Buyer, Order, Shop, StaffAccount
from robot.models import CardAction
from robot.selfservice import cards
from routing.models import Conversation, ConversationState, Message, SenderKind
from routing.tokens import buyer_token
from tests.backoffice import factories

HOUR = timedelta(hours=1)


def order(shop: Shop, number: str = "O1", buyer: str = "b1", **fields: Any) -> Order:
    return factories.order(shop, number, buyer, **fields)


@pytest.mark.parametrize(
    ("status", "after_sale", "paid_hours_ago", "expected"),
    [
        ("unpaid", "none", None, []),
        ("to_ship", "none", 2, ["confirm_address"]),
        ("to_ship", "none", 30, ["confirm_address", "urge_shipping"]),
        ("shipped", "none", 30, ["track_parcel"]),
        ("delivered", "none", 30, ["confirm_receipt", "apply_after_sale"]),
        ("completed", "none", 30, ["apply_after_sale"]),
        ("completed", "rejected", 30, ["apply_after_sale"]),
        ("closed", "none", 30, []),
        ("delivered", "refund_requested", 30, ["after_sale_progress"]),
        ("completed", "return_requested", 30, ["after_sale_progress"]),
        ("shipped", "returning", 30, ["after_sale_progress"]),
    ],
)
def test_cards_follow_the_order_state(
    shop_a: Shop, status: str, after_sale: str, paid_hours_ago: int | None, expected: list[str]
) -> None:
    now = timezone.now()
    paid_at = now - paid_hours_ago * HOUR if paid_hours_ago is not None else None
    o = order(shop_a, status=status, after_sale_status=after_sale, paid_at=paid_at)
    assert cards.cards_of_order(o, urge_after=24 * HOUR, now=now) == expected
    shown = [c["kind"] for c in cards.cards_for_buyer(o.buyer, now=now)]
    assert shown == expected


def test_the_urge_threshold_is_the_owners(owner: StaffAccount, shop_a: Shop) -> None:
    o = order(shop_a, paid_at=timezone.now() - 5 * HOUR)
    assert "urge_shipping" not in [c["kind"] for c in cards.cards_for_buyer(o.buyer)]
    cards.save_settings(staff=owner, cards=cards.ALL_CARDS, urge_after_hours=4)
    assert "urge_shipping" in [c["kind"] for c in cards.cards_for_buyer(o.buyer)]


def test_cards_switched_off_are_not_shown(owner: StaffAccount, shop_a: Shop) -> None:
    o = order(shop_a, status="delivered")
    cards.save_settings(staff=owner, cards=["apply_after_sale"], urge_after_hours=24)
    assert [c["kind"] for c in cards.cards_for_buyer(o.buyer)] == ["apply_after_sale"]
    with pytest.raises(Invalid):
        cards.act(buyer=o.buyer, order_id=o.pk, kind="confirm_receipt", action="confirm", data={})


def test_settings_need_the_self_service_right(teammate: StaffAccount) -> None:
    with pytest.raises(Forbidden):
        cards.save_settings(staff=teammate, cards=[], urge_after_hours=24)


def chat_of(buyer: Buyer) -> list[tuple[str, str]]:
    return list(
        Message.objects.filter(conversation__buyer=buyer)
        .order_by("conversation", "seq")
        .values_list("sender", "text")
    )


def test_confirming_the_address_is_recorded_in_the_chat_once(shop_a: Shop) -> None:
    o = order(shop_a)
    result = cards.act(buyer=o.buyer, order_id=o.pk, kind="confirm_address", action="confirm", data={})
    assert result["cards"][0]["done"] is True
    assert CardAction.objects.filter(order=o, kind="confirm_address").count() == 1
    [(sender, text)] = chat_of(o.buyer)
    assert sender == SenderKind.SYSTEM and o.number in text
    conv = Conversation.objects.get(buyer=o.buyer)
    assert conv.state == ConversationState.ROBOT and conv.waiting_since is None


def test_changing_the_address_goes_through_the_shop_service(shop_a: Shop) -> None:
    o = order(shop_a)
    new = {"receiver_name": "李四", "receiver_phone": "13900000000", "address": "上海市浦东新区世纪大道1号"}
    cards.act(buyer=o.buyer, order_id=o.pk, kind="confirm_address", action="change", data=new)
    o.refresh_from_db()
    assert (o.receiver_name, o.address) == ("李四", "上海市浦东新区世纪大道1号")
    change = AddressChange.objects.get(order=o)
    assert "李四" in change.new_address and "王小明" in change.old_address
    assert "上海" not in chat_of(o.buyer)[0][1]  # the chat names the change, not the address


def test_the_address_cannot_change_once_shipped(shop_a: Shop) -> None:
    from backoffice import services

    o = order(shop_a, status="shipped")
    with pytest.raises(Conflict):
        services.change_order_address(order=o, receiver_name="李四", receiver_phone="1", address="上海")
    with pytest.raises(Invalid):  # the card is not offered for a shipped order
        cards.act(buyer=o.buyer, order_id=o.pk, kind="confirm_address", action="change", data={})
    assert not AddressChange.objects.exists()


def test_an_empty_new_address_is_refused_and_nothing_is_written(shop_a: Shop) -> None:
    o = order(shop_a)
    with pytest.raises(Invalid):
        cards.act(
            buyer=o.buyer, order_id=o.pk, kind="confirm_address", action="change", data={"address": " "}
        )
    assert not AddressChange.objects.exists() and not Message.objects.exists()


def test_confirming_receipt_completes_the_order(shop_a: Shop) -> None:
    o = order(shop_a, status="delivered", delivered_at=timezone.now() - HOUR)
    result = cards.act(buyer=o.buyer, order_id=o.pk, kind="confirm_receipt", action="confirm", data={})
    o.refresh_from_db()
    assert o.status == "completed"
    assert [c["kind"] for c in result["cards"]] == ["apply_after_sale"]


def test_applying_for_after_sale_sets_the_request_and_shows_progress(shop_a: Shop) -> None:
    o = order(shop_a, status="delivered")
    result = cards.act(
        buyer=o.buyer, order_id=o.pk, kind="apply_after_sale", action="return_requested", data={}
    )
    o.refresh_from_db()
    assert o.after_sale_status == "return_requested"
    assert [c["kind"] for c in result["cards"]] == ["after_sale_progress"]
    with pytest.raises(Invalid):  # a second request while one is open: the card is gone
        cards.act(buyer=o.buyer, order_id=o.pk, kind="apply_after_sale", action="refund_requested", data={})


def test_urging_shipping_is_recorded(shop_a: Shop) -> None:
    o = order(shop_a, paid_at=timezone.now() - 30 * HOUR)
    cards.act(buyer=o.buyer, order_id=o.pk, kind="urge_shipping", action="urge", data={})
    assert o.number in chat_of(o.buyer)[0][1]


def test_a_buyer_cannot_act_on_another_buyers_order(shop_a: Shop) -> None:
    mine = order(shop_a, "O1", "b1")
    theirs = order(shop_a, "O2", "b2")
    with pytest.raises(NotFound):
        cards.act(buyer=mine.buyer, order_id=theirs.pk, kind="confirm_address", action="confirm", data={})
    assert not Message.objects.exists() and not CardAction.objects.exists()


def url(shop: Shop, buyer: Buyer, path: str = "cards/") -> str:
    return f"/chat/{shop.pk}/self-service/{path}?token={buyer_token(buyer)}"


def test_buyer_endpoint_answers_404_for_another_buyers_order(client: Client, shop_a: Shop) -> None:
    mine = order(shop_a, "O1", "b1")
    theirs = order(shop_a, "O2", "b2")
    body = {"order": theirs.pk, "kind": "confirm_address", "action": "confirm"}
    response = client.post(url(shop_a, mine.buyer), json.dumps(body), content_type="application/json")
    assert response.status_code == 404
    mine_body = {"order": mine.pk, "kind": "confirm_address", "action": "confirm"}
    response = client.post(url(shop_a, mine.buyer), json.dumps(mine_body), content_type="application/json")
    assert response.status_code == 200 and response.json()["cards"][0]["done"]


def test_buyer_endpoint_refuses_other_shops_tokens_and_bad_bodies(
    client: Client, shop_a: Shop, shop_b: Shop
) -> None:
    o = order(shop_a)
    outsider = factories.buyer(shop_b, "b9")
    body = json.dumps({"order": o.pk, "kind": "confirm_address", "action": "confirm"})
    assert client.post(url(shop_a, outsider), body, content_type="application/json").status_code == 403
    assert client.post(url(shop_a, o.buyer), "[", content_type="application/json").status_code == 400
    bad = json.dumps({"order": o.pk, "kind": "confirm_address", "action": "change", "data": "x"})
    assert client.post(url(shop_a, o.buyer), bad, content_type="application/json").status_code == 422
    huge = json.dumps({"order": o.pk, "kind": "x" * 10000})
    assert client.post(url(shop_a, o.buyer), huge, content_type="application/json").status_code == 400
    assert not Message.objects.exists()


def test_overview_lists_faq_cards_and_window(client: Client, shop_a: Shop) -> None:
    o = order(shop_a, status="shipped", carrier="顺丰速运", tracking_number="SF123")
    data = client.get(url(shop_a, o.buyer, "")).json()
    assert data["faq"] is None
    assert data["cards"][0]["parcel"]["tracking_number"] == "SF123"
    assert data["window"]["bar"] == "aftersale"
    assert client.get(f"/chat/{shop_a.pk}/self-service/").status_code == 403


def test_overview_query_count_does_not_grow_with_orders(
    client: Client, shop_a: Shop, owner: StaffAccount, django_assert_max_num_queries: Any
) -> None:
    from robot.selfservice import window

    window.add_entry(staff=owner, bar="aftersale", kind="logistics")
    window.add_entry(staff=owner, bar="aftersale", kind="after_sale_progress")
    for n in range(8):
        o = order(shop_a, f"O{n}", "b1", status=["to_ship", "shipped", "delivered", "completed"][n % 4])
    with django_assert_max_num_queries(18):  # fixed: the same with one order or many
        assert client.get(url(shop_a, o.buyer, "")).status_code == 200


def test_the_agent_sees_what_the_buyer_read_and_did(
    owner_client: Client, owner: StaffAccount, shop_a: Shop
) -> None:
    """After an FAQ tap and a card action, the chat's transcript (the workbench's API) holds both, in order,
    once the chat reaches a human."""
    from robot.selfservice import faq

    item = faq.add_question(staff=owner, question="发什么快递？", answer="默认发中通。")
    o = order(shop_a)
    faq.ask(buyer=o.buyer, item_id=item.pk, client_msg_id="tap-1")
    cards.act(buyer=o.buyer, order_id=o.pk, kind="confirm_address", action="confirm", data={})
    conv = Conversation.objects.get(buyer=o.buyer)
    transcript = owner_client.get(f"/api/v1/routing/conversations/{conv.pk}/messages").json()
    assert [(m["sender"], m["text"][:6]) for m in transcript] == [
        ("buyer", "发什么快递？"),
        ("system", "默认发中通。"),
        ("system", chat_of(o.buyer)[2][1][:6]),
    ]
    assert transcript[1]["card"] == {"kind": "faq", "question_id": item.pk}
    assert transcript[2]["card"]["kind"] == "self_service"
