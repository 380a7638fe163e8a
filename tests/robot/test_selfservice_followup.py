"""Follow-up and retention (issue 16): care after delivery once per order with product notes, the return
visit, the coupons at 30 and 60 days, quiet hours, switches, unsubscribing, no human session or timer, and
the task run twice at once (PostgreSQL) sending once."""

from __future__ import annotations

import datetime as dt
import threading
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone

from backoffice.models import Buyer, Shop, StaffAccount
from robot.models import FollowUp, FollowUpOptOut, FollowUpSettings
from robot.selfservice import cards, followup
from robot.tasks_selfservice import follow_up
from routing import services as routing
from routing.models import Conversation, ConversationState, Message, ReplyDelay, SenderKind
from tests.backoffice import factories
from tests.conftest import requires_postgres

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOON = dt.datetime(2026, 6, 1, 12, 0, tzinfo=SHANGHAI)


def settings(owner: StaffAccount, **values: Any) -> FollowUpSettings:
    base: dict[str, Any] = {
        "care_on": True,
        "care_delay_hours": 24,
        "care_text": "亲，宝贝已签收~",
        "return_visit_on": True,
        "coupon_on": True,
        "quiet_from": dt.time(22, 0),
        "quiet_until": dt.time(8, 0),
    }
    return followup.save_settings(staff=owner, values=base | values)


def messages_of(buyer: Buyer) -> list[str]:
    return list(
        Message.objects.filter(conversation__buyer=buyer, sender=SenderKind.SYSTEM)
        .order_by("conversation", "seq")
        .values_list("text", flat=True)
    )


def delivered(shop: Shop, hours_ago: float, now: dt.datetime = NOON, **extra: Any) -> Any:
    at = now - timedelta(hours=hours_ago)
    return factories.order(
        shop, status="delivered", delivered_at=at, created_at=at - timedelta(days=3), **extra
    )


def test_care_message_goes_out_after_the_owners_delay_once(owner: StaffAccount, shop_a: Shop) -> None:
    settings(owner)
    o = delivered(shop_a, hours_ago=20)
    assert followup.run(NOON) == 0  # planned, not yet due
    assert followup.run(NOON + timedelta(hours=5)) == 1
    assert followup.run(NOON + timedelta(hours=6)) == 0
    [text] = messages_of(o.buyer)
    assert text.startswith("亲，宝贝已签收~") and "退订" in text


def test_care_message_carries_the_products_usage_notes(owner: StaffAccount, shop_a: Shop) -> None:
    settings(owner)
    product = factories.product(shop_a, "p1")
    followup.set_care_note(staff=owner, product_id=product.pk, note="首次使用请用温水清洗。")
    item = {"title": product.title, "product_platform_id": "p1", "quantity": 1, "unit_price": product.price}
    o = delivered(shop_a, hours_ago=30, items=[item])
    followup.run(NOON)
    assert "首次使用请用温水清洗。" in messages_of(o.buyer)[0]


def test_follow_up_opens_no_human_session_and_starts_no_timer(owner: StaffAccount, shop_a: Shop) -> None:
    settings(owner)
    o = delivered(shop_a, hours_ago=30)
    followup.run(NOON)
    conv = Conversation.objects.get(buyer=o.buyer)
    assert conv.state == ConversationState.ROBOT and conv.agent_id is None
    assert conv.waiting_since is None and conv.assigned_at is None
    assert not ReplyDelay.objects.exists()


def test_nothing_is_sent_in_quiet_hours_and_it_waits_for_the_morning(
    owner: StaffAccount, shop_a: Shop
) -> None:
    settings(owner)
    night = dt.datetime(2026, 6, 1, 23, 30, tzinfo=SHANGHAI)
    o = delivered(shop_a, hours_ago=30, now=night)
    assert followup.run(night) == 0
    assert followup.run(night + timedelta(hours=8)) == 0  # 07:30 is still quiet
    assert followup.run(night + timedelta(hours=9)) == 1  # 08:30
    assert len(messages_of(o.buyer)) == 1


def test_the_owner_can_change_quiet_hours(owner: StaffAccount, shop_a: Shop) -> None:
    settings(owner, quiet_from=dt.time(12, 0), quiet_until=dt.time(13, 0))
    delivered(shop_a, hours_ago=30)
    assert followup.run(NOON) == 0
    assert followup.run(NOON + timedelta(hours=1)) == 1


def test_quiet_hours_rule() -> None:
    s = FollowUpSettings(quiet_from=dt.time(22, 0), quiet_until=dt.time(8, 0))

    def at(h: int, m: int = 0) -> dt.datetime:
        return dt.datetime(2026, 6, 1, h, m, tzinfo=SHANGHAI)

    assert followup.in_quiet_hours(s, at(22), SHANGHAI) and followup.in_quiet_hours(s, at(3), SHANGHAI)
    assert not followup.in_quiet_hours(s, at(8), SHANGHAI) and not followup.in_quiet_hours(
        s, at(21, 59), SHANGHAI
    )
    never = FollowUpSettings(quiet_from=dt.time(0), quiet_until=dt.time(0))
    assert not followup.in_quiet_hours(never, at(3), SHANGHAI)


def test_a_kind_switched_off_is_not_sent(owner: StaffAccount, shop_a: Shop) -> None:
    settings(owner)
    o = delivered(shop_a, hours_ago=20)
    followup.run(NOON)  # planned
    settings(owner, care_on=False)
    assert followup.run(NOON + timedelta(hours=5)) == 0
    assert FollowUp.objects.get(order=o).state == "skipped"


def test_a_buyer_who_replies_td_gets_no_more(owner: StaffAccount, shop_a: Shop) -> None:
    settings(owner)
    o = delivered(shop_a, hours_ago=30)
    routing.post_buyer_message(buyer=o.buyer, text="T D。")
    assert followup.run(NOON) == 0
    assert FollowUpOptOut.objects.filter(buyer=o.buyer).exists()
    assert messages_of(o.buyer) == []


def test_a_buyer_who_replies_tuiding_gets_no_more(owner: StaffAccount, shop_a: Shop) -> None:
    settings(owner)
    o = delivered(shop_a, hours_ago=30)
    routing.post_buyer_message(buyer=o.buyer, text="退订")
    assert followup.run(NOON) == 0


def test_return_visit_after_the_buyer_confirms_receipt(owner: StaffAccount, shop_a: Shop) -> None:
    settings(owner, care_on=False, return_visit_text="亲，对宝贝还满意吗？欢迎评价~")
    o = factories.order(shop_a, status="delivered", delivered_at=timezone.now())
    cards.act(buyer=o.buyer, order_id=o.pk, kind="confirm_receipt", action="confirm", data={})
    assert followup.send_due((timezone.now() + timedelta(days=1)).replace(hour=4)) == 1  # 12:00 in Shanghai
    assert any("欢迎评价" in text for text in messages_of(o.buyer))


def test_coupon_at_30_days_and_again_at_60_without_a_new_purchase(owner: StaffAccount, shop_a: Shop) -> None:
    settings(owner, care_on=False, return_visit_on=False, coupon_text="送您10元券")
    first = NOON - timedelta(days=30, hours=1)
    factories.buyer(shop_a, "b1", first_paid_at=first)
    o = factories.order(shop_a, "O1", "b1", status="completed", paid_at=first, created_at=first)
    assert followup.run(NOON) == 1
    assert followup.run(NOON + timedelta(days=30)) == 1
    assert messages_of(o.buyer) == [f"送您10元券\n{followup.OPT_OUT_HINT}"] * 2


def test_no_second_coupon_after_a_new_purchase(owner: StaffAccount, shop_a: Shop) -> None:
    settings(owner, care_on=False, return_visit_on=False)
    first = NOON - timedelta(days=30, hours=1)
    factories.buyer(shop_a, "b1", first_paid_at=first)
    o = factories.order(shop_a, "O1", "b1", status="completed", paid_at=first, created_at=first)
    assert followup.run(NOON) == 1
    factories.order(shop_a, "O2", "b1", status="to_ship", created_at=NOON + timedelta(days=3))
    assert followup.run(NOON + timedelta(days=30)) == 0
    assert len(messages_of(o.buyer)) == 1


def test_the_task_is_registered_for_beat() -> None:
    from django.conf import settings as django_settings

    entry = django_settings.CELERY_BEAT_SCHEDULE["robot-follow-up"]
    assert entry["task"] == follow_up.name
    assert entry["options"]["expires"] < entry["schedule"]  # type: ignore[index]


def test_a_stale_claim_is_taken_again_without_a_duplicate(owner: StaffAccount, shop_a: Shop) -> None:
    settings(owner)
    o = delivered(shop_a, hours_ago=30)
    followup.run(NOON)
    row = FollowUp.objects.get(order=o)
    # a redelivered run after a crash between the message and the bookkeeping
    FollowUp.objects.filter(pk=row.pk).update(state="sending", claimed_at=NOON - timedelta(hours=1))
    assert followup.send_due(NOON + timedelta(minutes=1)) == 1
    assert len(messages_of(o.buyer)) == 1  # the message's client_msg_id kept the resend out


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_each_message_once(shop_a: Shop, owner: StaffAccount) -> None:
    settings(owner)
    orders = [delivered(shop_a, hours_ago=30, number=f"O{n}", buyer_platform_id=f"b{n}") for n in range(8)]
    barrier = threading.Barrier(2)
    results: list[int] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(followup.run(NOON))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 8
    for o in orders:
        assert len(messages_of(o.buyer)) == 1


def test_an_old_order_pushed_as_completed_gets_no_return_visit(owner: StaffAccount, shop_a: Shop) -> None:
    settings(owner, care_on=False)
    long_ago = NOON - timedelta(days=40)
    factories.order(shop_a, "OLD", "b1", status="completed", delivered_at=long_ago, created_at=long_ago)
    recent = factories.order(shop_a, "NEW", "b2", status="completed", delivered_at=NOON - timedelta(days=1))
    assert followup.run(NOON) == 1
    assert list(FollowUp.objects.values_list("order__number", "kind")) == [("NEW", "return_visit")]
    assert len(messages_of(recent.buyer)) == 1


def test_a_follow_up_into_a_chat_with_an_agent_touches_no_timer(
    owner: StaffAccount, shop_a: Shop, teammate: StaffAccount
) -> None:
    settings(owner)
    o = delivered(shop_a, hours_ago=30)
    conv = Conversation.objects.create(
        shop=shop_a, buyer=o.buyer, state=ConversationState.ACTIVE, agent=teammate, silent_since=NOON
    )
    assert followup.run(NOON) == 1
    conv.refresh_from_db()
    assert (conv.waiting_since, conv.silent_since, conv.last_seq) == (None, NOON, 1)
    assert Message.objects.get(conversation=conv).sender == SenderKind.SYSTEM


@pytest.mark.parametrize(
    "text", ["退订", " TD ", "td。", "ＴＤ", "退訂", "退订！", "我要退订", "退订了", "T D"]
)
def test_unsubscribe_replies_as_buyers_write_them(text: str) -> None:
    assert followup.is_unsubscribe(text)


@pytest.mark.parametrize(
    "text", ["不退订", "什么时候发货", "TDK耳机还有货吗", "我想问问退订的话优惠券还能用吗", "todo"]
)
def test_other_messages_are_not_unsubscribing(text: str) -> None:
    assert not followup.is_unsubscribe(text)
