"""Buyer self-service in the browser (issue 16): the buyer page on a phone shows the FAQ, a card, an action
and the service window; the owner reorders the window by drag and drop (and with the keyboard)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from backoffice.models import Shop, StaffAccount
from robot.models import CardAction
from robot.selfservice import faq, window
from routing.models import Message, SenderKind
from routing.tokens import buyer_token
from tests.backoffice import factories
from tests.browser.conftest import requires_chromium, requires_live_stack

pytestmark = [requires_live_stack, requires_chromium, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def test_buyer_page_on_a_phone_shows_faq_card_action_and_service_window(
    new_context: Any, shop_a: Shop, owner: StaffAccount
) -> None:
    faq.set_opening(staff=owner, opening="亲，欢迎光临~")
    question = faq.add_question(staff=owner, question="什么时候发货？", answer="付款后48小时内发货。")
    window.add_entry(staff=owner, bar="aftersale", kind="logistics")
    factories.order(
        shop_a, "O-OLD", "ssb1", status="shipped", carrier="顺丰速运", tracking_number="SF1234567"
    )
    new = factories.order(shop_a, "O-NEW", "ssb1")  # to ship, the newest: the after-sale bar
    buyer = new.buyer

    page = new_context().new_page()
    page.set_viewport_size(PHONE)
    page.goto(f"/chat/{shop_a.pk}/?token={buyer_token(buyer)}")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")

    # The FAQ: the opening and the question; a tap shows the question as mine and the answer below it.
    expect(page.locator("#ss-opening")).to_have_text("亲，欢迎光临~")
    page.locator(".ss-question", has_text="什么时候发货？").click()
    expect(page.locator("#transcript .msg.mine .text")).to_have_text("什么时候发货？")
    expect(page.locator("#transcript .msg.system .text")).to_have_text("付款后48小时内发货。")
    stored = list(
        Message.objects.filter(conversation__buyer=buyer).order_by("seq").values_list("sender", flat=True)
    )
    assert stored == [SenderKind.BUYER, SenderKind.SYSTEM] and question.pk

    # A card: confirm the new order's address; the card says done and the chat records it.
    card = page.locator('.ss-card[data-kind="confirm_address"]')
    expect(card).to_contain_text("O-NEW")
    expect(page.locator('.ss-card[data-kind="track_parcel"]')).to_contain_text("SF1234567")
    card.locator('.ss-act[data-action="confirm"]').click()
    expect(page.locator('.ss-card[data-kind="confirm_address"] .ss-done')).to_be_visible()
    expect(page.locator("#transcript .msg.system .text").last).to_contain_text("O-NEW")
    assert CardAction.objects.filter(order=new, kind="confirm_address").exists()

    # The service window: the three fixed entries, then the logistics query, which shows the parcel.
    bar = page.locator("#ss-window")
    expect(bar).to_have_attribute("data-bar", "aftersale")
    expect(bar.locator(".ss-entry-btn")).to_have_count(4)
    expect(bar.locator(".ss-entry-btn").nth(0)).to_have_attribute("data-kind", "rate")
    bar.locator('[data-kind="logistics"]').click()
    expect(page.locator("#ss-sheet")).to_contain_text("SF1234567")
    # Every entry fits a phone: the bar scrolls sideways instead of pushing the page wider.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    bar.locator('[data-kind="rate"]').click()
    expect(page.locator("#rate-sheet")).to_be_visible()


def test_owner_reorders_the_service_window_by_drag_and_drop_and_keyboard(
    new_context: Any, shop_a: Shop, owner: StaffAccount
) -> None:
    first = window.add_entry(staff=owner, bar="presale", kind="logistics")
    second = window.add_entry(staff=owner, bar="presale", kind="after_sale_progress")
    third = window.add_entry(staff=owner, bar="presale", kind="membership_gift", text="入会送券")
    page = new_context(owner).new_page()
    page.goto("/self-service/window/")
    entries = page.locator("#entries-presale .ss-entry")
    expect(entries).to_have_count(3)

    # Drag the third entry onto the first: it goes before it.
    entries.nth(2).drag_to(entries.nth(0), target_position={"x": 10, "y": 2})
    expect(entries.nth(0)).to_have_attribute("data-id", str(third.pk))
    page.locator('.ss-bar[data-bar="presale"] .save-order').click()
    expect(page.locator(".ss-messages")).to_be_visible()
    assert [e.pk for e in window.entries_of(shop_a, "presale")] == [third.pk, first.pk, second.pk]

    # With the keyboard: the last entry up one place with Alt+↑, then remove the first with ✕.
    entries.nth(2).focus()
    page.keyboard.press("Alt+ArrowUp")
    expect(entries.nth(1)).to_have_attribute("data-id", str(second.pk))
    entries.nth(0).locator(".remove").click()
    page.locator('.ss-bar[data-bar="presale"] .save-order').click()
    expect(page.locator(".ss-messages")).to_be_visible()
    assert [e.pk for e in window.entries_of(shop_a, "presale")] == [second.pk, first.pk]
    # The fixed entries are shown, locked, and not in the list that moves.
    expect(page.locator('.ss-bar[data-bar="presale"] .ss-fixed .ss-entry')).to_have_count(3)


def test_send_product_shares_the_product_the_buyer_came_from(
    new_context: Any, shop_a: Shop, owner: StaffAccount
) -> None:
    product = factories.product(shop_a, "p-live", "北欧风陶瓷马克杯", "39.90")
    buyer = factories.buyer(shop_a, "ssb2", "小熊")
    page = new_context().new_page()
    page.set_viewport_size(PHONE)
    page.goto(f"/chat/{shop_a.pk}/?token={buyer_token(buyer)}&product={product.pk}")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    bar = page.locator("#ss-window")
    expect(bar).to_have_attribute("data-bar", "presale")  # no order yet
    bar.locator('[data-kind="send_product"]').click()
    mine = page.locator("#transcript .msg.mine")
    expect(mine.locator(".text")).to_contain_text("北欧风陶瓷马克杯")
    expect(mine.locator(".state")).to_have_attribute("data-state", "acked")
    bar.locator('[data-kind="place_order"]').click()
    expect(page.locator("#ss-sheet")).to_contain_text("¥39.90")
