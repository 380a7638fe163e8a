"""Issue 14's workbench defects in a browser: each chat keeps its own draft (a text typed for one buyer can
never go to another), a chat served and transferred away stays in the agent's history (read only), and an
action on a chat that is no longer the agent's says so and updates the lists."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from backoffice.models import Shop, StaffAccount
from routing import services
from routing.models import Conversation, Message, SenderKind
from tests.backoffice import factories
from tests.browser.conftest import (
    make_agent,
    open_chat,
    open_workbench,
    requires_chromium,
    requires_live_stack,
)

pytestmark = [requires_live_stack, requires_chromium, pytest.mark.django_db(transaction=True)]


def string(page: Any, key: str, **values: str) -> str:
    """One of the page's strings (its initial JSON, translated by the server), with its values filled."""
    text: str = page.evaluate(
        "(key) => JSON.parse(document.getElementById('wb-initial').textContent).strings[key]", key
    )
    for name, value in values.items():
        text = text.replace(f"%({name})s", value)
    return text


def refusal(page: Any) -> str:
    """What the page says of an action on a chat no longer the agent's (up to the server's reason)."""
    return string(page, "not_yours").split("%(detail)s")[0]


def row(page: Any, list_id: str, nickname: str) -> Any:
    return page.locator(f"#{list_id} li.session").filter(
        has=page.locator(f"[data-field='name']:text-is('{nickname}')")
    )


def agent_texts(conv: Conversation) -> list[str]:
    return list(conv.messages.filter(sender=SenderKind.AGENT).values_list("text", flat=True))


def test_each_chat_keeps_its_own_draft(new_context: Any, shop_a: Shop, owner_offline: StaffAccount) -> None:
    agent = make_agent(shop_a, "drafts", "售前-小草")
    first, _d = services.request_human(buyer=factories.buyer(shop_a, "d1", "第一位买家"))
    second, _d = services.request_human(buyer=factories.buyer(shop_a, "d2", "第二位买家"))
    workbench = open_workbench(new_context, agent)
    pane, box = workbench.locator("#pane-buyer"), workbench.locator("#input")
    expect(pane).to_have_text("第一位买家")

    box.fill("给第一位的草稿")
    row(workbench, "session-list", "第二位买家").click()
    expect(pane).to_have_text("第二位买家")
    expect(box).to_have_value("")  # before: the first chat's text stayed in the box, Enter sent it here
    box.fill("给第二位")
    workbench.keyboard.press("Alt+ArrowUp")
    expect(pane).to_have_text("第一位买家")
    expect(box).to_have_value("给第一位的草稿")
    row(workbench, "session-list", "第二位买家").click()
    expect(box).to_have_value("给第二位")
    box.press("Enter")
    expect(workbench.locator("#transcript .msg.mine .state")).to_have_attribute("data-state", "acked")
    expect(box).to_have_value("")
    assert agent_texts(second) == ["给第二位"] and agent_texts(first) == []

    # A chat that ends drops its draft (it is not kept for a late reply, nor sent anywhere).
    row(workbench, "session-list", "第一位买家").click()
    expect(box).to_have_value("给第一位的草稿")
    box.press("Escape")
    expect(row(workbench, "history-list", "第一位买家")).to_have_count(1)
    expect(pane).to_have_text("第二位买家")  # the neighbouring chat opens
    expect(box).to_have_value("")
    workbench.keyboard.press("Alt+3")
    row(workbench, "history-list", "第一位买家").click()
    expect(pane).to_have_text("第一位买家")
    expect(box).to_be_enabled()  # an ended chat can still get a late reply: with an empty box
    expect(box).to_have_value("")
    assert agent_texts(first) == []


def test_a_draft_of_a_chat_transferred_away_never_reaches_the_next_buyer(
    new_context: Any, shop_a: Shop, owner_offline: StaffAccount
) -> None:
    """The issue's reproduction: transfer chat A, type, start a proactive chat with buyer B, Enter: B
    received the text. Now the reply box closes with chat A, its draft goes, and B's box is empty. Chat A
    stays in the agent's history, read only (it is the colleague's now)."""
    agent = make_agent(shop_a, "mover", "售前-小美")
    colleague = make_agent(shop_a, "taker", "售后-阿杰")
    services.set_agent_status(staff=colleague, status="busy")  # chat A comes to the agent
    buyer_a = open_chat(new_context, shop_a, "ta", "买家甲")
    factories.order(shop_a, "O-PRO-1", "tb")
    buyer_b = factories.buyer(shop_a, "tb", "买家乙")
    workbench = open_workbench(new_context, agent)
    buyer_a.locator("#input").fill("我要退货")
    buyer_a.locator("#input").press("Enter")
    expect(workbench.locator("#transcript .msg.theirs .text")).to_have_text("我要退货")
    services.set_agent_status(staff=colleague, status="online")

    box = workbench.locator("#input")
    box.fill("这是给买家甲的话")
    workbench.keyboard.press("Alt+T")
    expect(workbench.locator(f"#transfer-agent option[value='{colleague.pk}']")).to_be_enabled()
    workbench.locator("#transfer-agent").select_option(str(colleague.pk))
    workbench.locator("#transfer-submit").click()
    expect(workbench.locator("#session-list li.session")).to_have_count(0)
    expect(workbench.locator("#pane")).to_be_hidden()
    expect(box).to_be_hidden()
    # The socket's event can beat the transfer's own answer; keys wait while a dialog is open.
    expect(workbench.locator("#transfer-dialog")).to_be_hidden()

    workbench.keyboard.press("Alt+N")
    workbench.locator("#proactive-q").fill("O-PRO-1")
    workbench.locator("#proactive-results button.result").click()
    expect(workbench.locator("#pane-buyer")).to_have_text("买家乙")
    expect(box).to_have_value("")
    box.press("Enter")  # nothing to send
    box.fill("您好，买家乙")
    box.press("Enter")
    expect(workbench.locator("#transcript .msg.mine .state")).to_have_attribute("data-state", "acked")
    conv_b = Conversation.objects.get(buyer=buyer_b)
    assert agent_texts(conv_b) == ["您好，买家乙"]
    assert not Message.objects.filter(text="这是给买家甲的话").exists()

    # Chat A in the history: the colleague's now, read only.
    workbench.keyboard.press("Alt+3")
    row(workbench, "history-list", "买家甲").click()
    expect(workbench.locator("#pane-buyer")).to_have_text("买家甲")
    expect(workbench.locator("#transcript .msg.theirs .text")).to_have_text("我要退货")
    note = string(workbench, "transferred_read_only", name="售后-阿杰")
    expect(workbench.locator("#composer-note")).to_have_text(note)
    expect(box).to_be_disabled()
    expect(workbench.locator("#end-btn")).to_be_disabled()
    expect(workbench.locator("#transfer-btn")).to_be_disabled()


def test_an_action_on_a_chat_that_is_no_longer_mine_says_so_and_updates_the_lists(
    new_context: Any, shop_a: Shop, owner_offline: StaffAccount
) -> None:
    """The page missed the event (a lost broadcast, a supervisor's move): the test drops the socket's
    "transferred" frames. The server refuses the reply and the rating invitation; before, the page kept the
    chat as the agent's and said nothing useful."""
    agent = make_agent(shop_a, "unaware", "售前-小雨")
    colleague = make_agent(shop_a, "other", "售后-老陈", status="busy")
    buyer = open_chat(new_context, shop_a, "na", "买家丙")

    def relay(ws: Any) -> None:
        server = ws.connect_to_server()

        def to_page(message: str | bytes) -> None:
            if json.loads(message).get("type") != "transferred":
                ws.send(message)

        server.on_message(to_page)

    context = new_context(agent)
    workbench = context.new_page()
    workbench.route_web_socket(re.compile(r"/ws/agent/"), relay)
    workbench.goto("/workbench/")
    expect(workbench.locator("#conn-state")).to_have_attribute("data-state", "open")
    buyer.locator("#input").fill("在吗")
    buyer.locator("#input").press("Enter")
    expect(workbench.locator("#transcript .msg.theirs .text")).to_have_text("在吗")
    conv = Conversation.objects.get(buyer__platform_id="na")
    services.set_agent_status(staff=colleague, status="online")
    services.transfer(conversation=conv, to_agent=colleague, by=agent, note="")  # e.g. from another tab

    toast = workbench.locator("#toast")
    workbench.locator("#input").fill("马上为您查")
    workbench.locator("#input").press("Enter")
    expect(workbench.locator("#transcript .msg.mine .state")).to_have_attribute("data-state", "failed")
    expect(toast).to_contain_text(refusal(workbench))
    expect(workbench.locator("#session-list li.session")).to_have_count(0)
    expect(row(workbench, "history-list", "买家丙")).to_have_count(1)
    expect(workbench.locator("#input")).to_be_disabled()  # read only: the colleague's chat now
    assert agent_texts(conv) == []


@pytest.mark.parametrize("action", ["rating", "end", "transfer"])
def test_inviting_a_rating_ending_or_transferring_a_chat_ended_meanwhile_says_so(
    new_context: Any, shop_a: Shop, owner_offline: StaffAccount, action: str
) -> None:
    """The chat ended while the page missed it (the test process's end reaches no socket of the page's
    server): the server refuses the action (409) and the page says so, moving the chat to the history.
    Before, ending was silent and the rating invitation and transfer showed only the server's words."""
    agent = make_agent(shop_a, "late", "售前-小晚")
    conv, _d = services.request_human(buyer=factories.buyer(shop_a, "le", "买家丁"))
    make_agent(shop_a, "late_colleague", "售后-小早")
    workbench = open_workbench(new_context, agent)
    expect(workbench.locator("#pane-buyer")).to_have_text("买家丁")
    services.end_conversation(conversation=conv, reason="buyer")

    if action == "rating":
        workbench.keyboard.press("Alt+R")
    elif action == "end":
        workbench.locator("#input").press("Escape")
    else:
        workbench.keyboard.press("Alt+T")
        colleague = workbench.locator("#transfer-agent option", has_text="售后-小早")
        expect(colleague).to_be_enabled()
        workbench.locator("#transfer-agent").select_option(colleague.get_attribute("value"))
        workbench.locator("#transfer-submit").click()
        expect(workbench.locator("#transfer-dialog")).to_be_hidden()
    expect(workbench.locator("#toast")).to_contain_text(refusal(workbench))
    expect(workbench.locator("#session-list li.session")).to_have_count(0)
    expect(row(workbench, "history-list", "买家丁")).to_have_count(1)
    expect(workbench.locator("#pane-buyer")).to_have_text("买家丁")  # still on screen, as history
