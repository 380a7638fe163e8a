"""The workbench's tools in a browser: the queue (live count, take a chat), transfer with a note, a
proactive chat found by order number with a product card, and notifications for new chats."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from backoffice.models import Shop, StaffAccount
from routing import services
from routing.models import Conversation, ConversationState, Transfer
from tests.backoffice import factories
from tests.browser.conftest import (
    make_agent,
    open_chat,
    open_workbench,
    requires_chromium,
    requires_live_stack,
)

pytestmark = [requires_live_stack, requires_chromium, pytest.mark.django_db(transaction=True)]

# Records notifications instead of showing them (permission granted).
NOTIFICATIONS = """
window.__notifications = [];
window.Notification = class {
  constructor(title, options) { window.__notifications.push({ title, body: (options || {}).body || "" }); }
  static get permission() { return "granted"; }
  static requestPermission() { return Promise.resolve("granted"); }
};
"""


def test_queued_chat_shows_live_in_the_queue_tab_and_is_taken(
    new_context: Any, shop_a: Shop, owner_offline: StaffAccount
) -> None:
    full = make_agent(shop_a, "full_agent", "售前-小雅", limit=1)
    services.request_human(buyer=factories.buyer(shop_a, "q0", "先来的买家"))  # takes the only seat
    puller = make_agent(shop_a, "puller", "主管助理", routing=False)  # never routed to: pulls by hand
    workbench = open_workbench(new_context, puller)
    expect(workbench.locator("#queue-count")).to_have_text("0")
    workbench.keyboard.press("Alt+2")

    chat = open_chat(new_context, shop_a, "q1", "排队的买家")
    chat.locator("#input").fill("有人吗")
    chat.locator("#input").press("Enter")
    # First in line is said plainly (before: "您前面排队第 1 位", read as "one person ahead of you").
    expect(chat.locator("#banner")).to_contain_text("下一位就是您")
    expect(chat.locator("#banner")).not_to_contain_text("前面")
    expect(workbench.locator("#queue-count")).to_have_text("1")  # queue_changed, live
    queued = workbench.locator("#queue-list li.queued")
    expect(queued.locator(".q-name")).to_have_text("排队的买家")

    queued.locator("button.pull").click()
    expect(workbench.locator("#session-list li.session [data-field='name']")).to_have_text("排队的买家")
    expect(workbench.locator("#transcript .msg.theirs .text")).to_have_text("有人吗")
    expect(workbench.locator("#queue-count")).to_have_text("0")
    expect(chat.locator("#serving")).to_contain_text("主管助理")
    assert Conversation.objects.get(buyer__platform_id="q1").agent_id == puller.pk
    assert full.conversations.count() == 1


def test_transfer_with_a_note_moves_the_chat_to_the_colleague(
    new_context: Any, shop_a: Shop, owner_offline: StaffAccount
) -> None:
    first = make_agent(shop_a, "first", "售前-小美")
    second = make_agent(shop_a, "second", "售后-阿杰", status="busy")  # receives nothing until online
    chat = open_chat(new_context, shop_a, "t1", "要退款的买家")
    mine = open_workbench(new_context, first)
    chat.locator("#input").fill("我要退款")
    chat.locator("#input").press("Enter")
    expect(mine.locator("#transcript .msg.theirs .text")).to_have_text("我要退款")
    services.set_agent_status(staff=second, status="online")
    theirs = open_workbench(new_context, second)

    mine.keyboard.press("Alt+T")
    expect(mine.locator(f"#transfer-agent option[value='{second.pk}']")).to_be_enabled()
    mine.locator("#transfer-agent").select_option(str(second.pk))
    mine.locator("#transfer-note").fill("退款问题，订单已发货")
    mine.locator("#transfer-submit").click()

    expect(mine.locator("#session-list li.session")).to_have_count(0)
    expect(theirs.locator("#session-list li.session [data-field='name']")).to_have_text("要退款的买家")
    expect(theirs.locator("#transcript .note")).to_contain_text("退款问题，订单已发货")
    expect(theirs.locator("#transcript .msg.theirs .text")).to_have_text("我要退款")
    expect(chat.locator("#serving")).to_contain_text("售后-阿杰")
    transfer = Transfer.objects.get()
    assert (transfer.from_agent_id, transfer.to_agent_id, transfer.note) == (
        first.pk,
        second.pk,
        "退款问题，订单已发货",
    )


def test_proactive_chat_by_order_number_with_a_product_card(
    new_context: Any, shop_a: Shop, owner_offline: StaffAccount
) -> None:
    agent = make_agent(shop_a, "pro", "售前-阿琳")
    factories.order(shop_a, "6912345678901234567", "p1")
    factories.product(shop_a, "sku1", "记忆棉慢回弹枕头 护颈枕", "129.00")
    chat = open_chat(new_context, shop_a, "p1", "买过枕头的买家")
    workbench = open_workbench(new_context, agent)

    workbench.keyboard.press("Alt+N")
    workbench.locator("#proactive-q").fill("6912345678901234567")
    workbench.locator("#proactive-results button.result").click()
    # The dialog closes with the answer to the request. The row and the buyer's "serving" can come first
    # (the server's events), and shortcuts do nothing while a dialog is open: Alt+P would be lost.
    expect(workbench.locator("#proactive-dialog")).to_be_hidden()
    expect(workbench.locator("#session-list li.session [data-field='name']")).to_have_text("买过枕头的买家")
    expect(chat.locator("#serving")).to_contain_text("售前-阿琳")

    workbench.keyboard.press("Alt+P")
    workbench.locator("#product-q").fill("枕头")
    workbench.locator("#product-results button.result").click()
    expect(workbench.locator("#transcript .card-product .card-title")).to_have_text("记忆棉慢回弹枕头 护颈枕")
    expect(workbench.locator("#transcript .msg.mine .state")).to_have_attribute("data-state", "acked")
    card = chat.locator("#transcript .card-product")
    expect(card.locator(".card-title")).to_have_text("记忆棉慢回弹枕头 护颈枕")
    expect(card.locator(".card-price")).to_contain_text("129.00")
    conv = Conversation.objects.get(buyer__platform_id="p1")
    assert conv.proactive and conv.state == ConversationState.ACTIVE


def test_a_new_chat_notifies_the_agent(new_context: Any, shop_a: Shop, owner_offline: StaffAccount) -> None:
    agent = make_agent(shop_a, "notified", "售前-小美")
    workbench = open_workbench(new_context, agent, init_script=NOTIFICATIONS)
    expect(workbench.locator("#notify-btn")).to_be_hidden()  # already granted
    chat = open_chat(new_context, shop_a, "n1", "新来的买家")
    chat.locator("#input").fill("在吗")
    chat.locator("#input").press("Enter")
    workbench.wait_for_function("() => window.__notifications.some((n) => n.title.includes('新来的买家'))")


def test_with_no_chat_open_there_is_no_reply_box(
    new_context: Any, shop_a: Shop, owner_offline: StaffAccount
) -> None:
    """Issue 14: ``#pane { display: flex }`` overrode the ``hidden`` attribute, so the toolbar and reply
    box showed with no chat selected, and text typed there went to the next chat opened."""
    agent = make_agent(shop_a, "no_chat", "售前-小空")
    workbench = open_workbench(new_context, agent)
    expect(workbench.locator("#pane-empty")).to_be_visible()
    expect(workbench.locator("#pane")).to_be_hidden()
    expect(workbench.locator("#input")).to_be_hidden()
    expect(workbench.locator("#transfer-btn")).to_be_hidden()
