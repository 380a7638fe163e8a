"""The flows a person clicks through: a buyer and an agent chatting both ways, the rating, ending with Esc,
the reply timer's colours, and the buyer page surviving a network drop."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from backoffice.models import Shop, StaffAccount
from routing import events, services
from routing.models import Conversation, ConversationState, Message, Rating
from routing.tokens import buyer_token
from tests import live
from tests.backoffice import factories
from tests.browser.conftest import (
    FRAMES,
    SAFETY_TIMEOUT_MS,
    open_chat,
    open_workbench,
    requires_chromium,
    requires_live_stack,
)

pytestmark = [requires_live_stack, requires_chromium, pytest.mark.django_db(transaction=True)]

SCRIPT = "你好 <script>window.__xss = 1</script>"


def test_buyer_and_agent_chat_rate_and_end_with_esc(
    new_context: Any, shop_a: Shop, agent: StaffAccount
) -> None:
    factories.order(shop_a, "O-LIVE-1", "lb1")
    workbench = open_workbench(new_context, agent)
    chat = open_chat(new_context, shop_a, "lb1", "爱吃草莓的小熊")

    # The buyer writes; the message is acked and routed to the agent, whose workbench shows the new chat.
    chat.locator("#input").fill(SCRIPT)
    chat.locator("#input").press("Enter")
    expect(chat.locator("#transcript .msg.mine .state")).to_have_attribute("data-state", "acked")
    row = workbench.locator("#session-list li.session")
    expect(row).to_have_count(1)
    expect(row.locator('[data-field="name"]')).to_have_text("爱吃草莓的小熊")
    expect(chat.locator("#serving")).to_contain_text("售前-小美")

    # The agent sees the message as text (not markup), with the buyer panel of the chat; the chat on
    # screen is read, so its row shows no unread badge.
    expect(workbench.locator("#pane-buyer")).to_have_text("爱吃草莓的小熊")
    expect(row.locator('[data-field="unread"]')).to_be_hidden()
    expect(workbench.locator("#transcript .msg.theirs .text")).to_have_text(SCRIPT)
    assert workbench.evaluate("window.__xss") is None
    expect(workbench.locator("#buyer-panel .order")).to_contain_text("O-LIVE-1")

    # The agent replies with Enter; Shift+Enter is a new line.
    workbench.locator("#input").fill("亲，在的")
    workbench.locator("#input").press("Shift+Enter")
    workbench.locator("#input").press_sequentially("请问有什么可以帮您？")
    workbench.locator("#input").press("Enter")
    reply = "亲，在的\n请问有什么可以帮您？"
    expect(workbench.locator("#transcript .msg.mine .text")).to_have_text(reply)
    expect(workbench.locator("#transcript .msg.mine .state")).to_have_attribute("data-state", "acked")
    expect(workbench.locator("#transcript .msg.mine .state")).to_have_text("已送达")  # not 已签收, a parcel's
    expect(chat.locator("#transcript .msg.theirs .text")).to_have_text(reply)
    expect(row.locator('[data-field="unread"]')).to_be_hidden()

    # The buyer answers again: live in the open chat, which is on screen, so no unread badge (before: "1").
    chat.locator("#input").fill("什么时候发货？")
    chat.locator("#input").press("Enter")
    expect(workbench.locator("#transcript .msg.theirs .text").last).to_have_text("什么时候发货？")
    expect(row.locator('[data-field="unread"]')).to_be_hidden()
    expect(row.locator('[data-field="unread"]')).to_have_text("0")

    # The agent invites a rating; the buyer gets the card with no star chosen, clicks 4 and is thanked.
    workbench.locator("#invite-btn").click()
    expect(chat.locator("#rate-sheet")).to_be_visible()
    expect(chat.locator("#transcript .card-rating")).to_have_count(1)
    expect(chat.locator(".star.on")).to_have_count(0)
    expect(chat.locator('.star[aria-pressed="true"]')).to_have_count(0)
    chat.locator('.star[data-stars="4"]').click()
    expect(chat.locator("#rate-thanks")).to_contain_text("售前-小美")
    expect(chat.locator(".star.on")).to_have_count(4)
    expect(workbench.locator("#transcript .note").last).to_contain_text("4")

    # Esc ends the chat: it moves to the history on the workbench, and the buyer is told.
    workbench.locator("#input").press("Escape")
    expect(workbench.locator("#session-list li.session")).to_have_count(0)
    expect(workbench.locator("#history-list li.session")).to_have_count(1)
    expect(chat.locator("#transcript .note.ended")).to_have_count(1)

    conv = Conversation.objects.get(buyer__platform_id="lb1")
    assert (conv.state, conv.end_reason) == (ConversationState.ENDED, "agent")
    # Still repliable for 72 hours: the note names the day, not only a time that reads as today's.
    assert conv.ended_at is not None
    until = timezone.localtime(conv.ended_at + services.HISTORY_REPLY_WINDOW)
    expect(workbench.locator("#composer-note")).to_contain_text(f"{until.month}月{until.day}日")
    assert Rating.objects.get(conversation=conv).stars == 4
    texts = list(Message.objects.filter(conversation=conv).order_by("seq").values_list("sender", "text"))
    assert texts[:3] == [("buyer", SCRIPT), ("agent", reply), ("buyer", "什么时候发货？")]
    # Every message is on each page exactly once.
    expect(chat.locator("#transcript li.msg")).to_have_count(4)  # 3 messages and the rating card
    expect(workbench.locator("#transcript li.msg")).to_have_count(4)


def test_the_rating_sheet_opens_when_the_agent_ends_an_unrated_chat(
    new_context: Any, shop_a: Shop, agent: StaffAccount
) -> None:
    workbench = open_workbench(new_context, agent)
    chat = open_chat(new_context, shop_a, "lr1", "爱喝奶茶的小猫")
    chat.locator("#input").fill("想退货")
    chat.locator("#input").press("Enter")
    expect(workbench.locator("#transcript .msg.theirs .text")).to_have_text("想退货")
    expect(chat.locator("#rate-sheet")).to_be_hidden()

    workbench.locator("#input").press("Escape")
    expect(chat.locator("#transcript .note.ended")).to_have_count(1)
    expect(chat.locator("#rate-sheet")).to_be_visible()
    expect(chat.locator("#rate-title")).to_contain_text("售前-小美")
    chat.locator('.star[data-stars="5"]').click()
    expect(chat.locator("#rate-thanks")).to_contain_text("售前-小美")
    conv = Conversation.objects.get(buyer__platform_id="lr1")
    assert conv.state == ConversationState.ENDED and Rating.objects.get(conversation=conv).stars == 5

    # Back on the page later: the menu still rates that chat, with its stars (from the server's hello).
    chat.add_init_script(FRAMES)
    chat.reload()
    chat.wait_for_function("() => window.__frames.includes('hello')")
    chat.locator("#menu-btn").click()
    chat.locator("#menu-rate").click()
    expect(chat.locator("#rate-title")).to_contain_text("售前-小美")
    expect(chat.locator(".star.on")).to_have_count(5)


def test_a_repeated_assigned_event_keeps_the_rows_preview_and_unread_count(
    new_context: Any, shop_a: Shop, agent: StaffAccount
) -> None:
    """Events are hints that may come twice (a redelivery, a frame late after a resume): an ``assigned`` for a
    chat already listed must not blank what its row shows. The test relays the page's socket and adds one
    after the server's hello (whose status would otherwise overwrite the added one)."""
    buyer = factories.buyer(shop_a, "la1", "爱跑步的小狗")
    conv, _decision = services.request_human(buyer=buyer)
    services.post_buyer_message(buyer=buyer, text="这件有M码吗", client_msg_id="p1")
    again = events.Assigned(
        conversation=conv.pk,
        agent_id=agent.pk,
        agent_name=agent.display_name,
        buyer_id=buyer.pk,
        buyer_name=buyer.nickname,
        rule="simple_mode/idle_ratio",
        waiting_since=conv.waiting_since,
    )
    busy = events.Status(status="busy", limit=agent.max_concurrent)  # shows when the page has both

    def relay(ws: Any) -> None:
        server = ws.connect_to_server()  # the page's frames pass as they are; the server's through to_page

        def to_page(message: str | bytes) -> None:
            ws.send(message)
            if json.loads(message).get("type") == "hello":
                ws.send(again.model_dump_json())
                ws.send(busy.model_dump_json())

        server.on_message(to_page)

    workbench = new_context(agent).new_page()
    # A tab in the background: the chat it opens by itself is not on screen, so its unread count stays.
    workbench.add_init_script("Object.defineProperty(document, 'hidden', { get: () => true });")
    workbench.route_web_socket(re.compile(r"/ws/agent/"), relay)
    workbench.goto("/workbench/")
    row = workbench.locator("#session-list li.session")
    expect(workbench.locator("#status-select")).to_have_value("busy")
    expect(row).to_have_count(1)
    expect(row.locator('[data-field="preview"]')).to_have_text("这件有M码吗")
    expect(row.locator('[data-field="unread"]')).to_have_text("1")


def test_the_buyer_page_marks_a_refused_send_failed_and_keeps_too_long_text(
    new_context: Any, shop_a: Shop
) -> None:
    """The test relays the page's socket and answers one send with an error frame, as the server does for a
    send it refuses; a text over the limit never leaves the page."""
    buyer = factories.buyer(shop_a, "lf1", "爱砍价的小兔")

    def relay(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "send" and frame.get("text") == "拒收":
                refused = {"type": "error", "code": "invalid", "message": "测试拒收"}
                ws.send(json.dumps({**refused, "client_msg_id": frame["client_msg_id"]}))
            else:
                server.send(message)

        ws.on_message(from_page)

    chat = new_context().new_page()
    chat.route_web_socket(re.compile(r"/ws/buyer/"), relay)
    chat.goto(f"/chat/{shop_a.pk}/?token={buyer_token(buyer)}")
    expect(chat.locator("#conn-state")).to_have_attribute("data-state", "open")
    chat.locator("#input").fill("拒收")
    chat.locator("#input").press("Enter")
    state = chat.locator("#transcript .msg.mine .state")
    expect(state).to_have_attribute("data-state", "failed")
    expect(state).to_contain_text("测试拒收")

    box = chat.locator("#input")
    assert box.get_attribute("maxlength") == str(services.MAX_TEXT)  # typing stops there; a script's value
    box.evaluate("(el, n) => { el.value = '长'.repeat(n); }", services.MAX_TEXT + 1)  # does not
    box.press("Enter")
    expect(chat.locator("#banner")).to_contain_text(str(services.MAX_TEXT))
    expect(chat.locator("#transcript .msg.mine")).to_have_count(1)
    assert len(box.input_value()) == services.MAX_TEXT + 1  # kept for the buyer to shorten
    assert not Message.objects.filter(conversation__buyer=buyer).exists()


def test_reply_timer_turns_amber_after_2_minutes_and_red_after_3(
    new_context: Any, shop_a: Shop, agent: StaffAccount
) -> None:
    buyer = factories.buyer(shop_a, "lt1", "安静的鲸鱼")
    services.request_human(buyer=buyer)
    services.post_buyer_message(buyer=buyer, text="在吗", client_msg_id="t1")
    workbench = open_workbench(new_context, agent)
    timer = workbench.locator("#session-list li.session [data-field='timer']")
    expect(timer).to_have_attribute("data-level", "ok")

    workbench.evaluate("window.__now = () => Date.now() + 125 * 1000")
    expect(timer).to_have_attribute("data-level", "amber")
    workbench.evaluate("window.__now = () => Date.now() + 181 * 1000")
    expect(timer).to_have_attribute("data-level", "red")
    expect(workbench.locator("#pane-timer")).to_have_attribute("data-level", "red")

    # The reply stops the timer.
    workbench.locator("#input").fill("抱歉久等了")
    workbench.locator("#input").press("Enter")
    expect(timer).to_have_attribute("data-level", "none")


def test_keyboard_moves_between_chats_and_focuses_the_input(
    new_context: Any, shop_a: Shop, agent: StaffAccount
) -> None:
    for platform_id, nickname in (("k1", "第一位买家"), ("k2", "第二位买家"), ("k3", "第三位买家")):
        services.request_human(buyer=factories.buyer(shop_a, platform_id, nickname))
    workbench = open_workbench(new_context, agent)
    pane = workbench.locator("#pane-buyer")
    expect(pane).to_have_text("第一位买家")  # the first chat opens by itself
    workbench.keyboard.press("Alt+ArrowDown")
    expect(pane).to_have_text("第二位买家")
    workbench.keyboard.press("Alt+ArrowDown")
    expect(pane).to_have_text("第三位买家")
    workbench.keyboard.press("Alt+ArrowDown")
    expect(pane).to_have_text("第一位买家")  # wraps around
    workbench.keyboard.press("Alt+ArrowUp")
    expect(pane).to_have_text("第三位买家")
    expect(workbench.locator("#session-list li.session.selected [data-field='name']")).to_have_text(
        "第三位买家"
    )
    workbench.keyboard.press("Alt+I")
    expect(workbench.locator("#input")).to_be_focused()
    # Esc in the reception-limit field does not end the chat; in the reply box it does.
    ends: list[str] = []
    workbench.on("request", lambda r: ends.append(r.url) if r.url.endswith("/end") else None)
    workbench.locator("#limit-input").press("Escape")
    workbench.locator("#input").press("Escape")
    expect(workbench.locator("#session-list li.session")).to_have_count(2)
    expect(workbench.locator("#history-list li.session [data-field='name']")).to_have_text("第三位买家")
    expect(pane).to_have_text("第二位买家")  # the neighbouring chat opens
    assert len(ends) == 1, ends


def test_buyer_page_reconnects_resumes_and_resends_what_was_not_acked(
    new_context: Any, shop_a: Shop, agent: StaffAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server goes away (a crash or a deploy) and comes back on the same address: the page reconnects
    with backoff, resumes (getting the reply written meanwhile) and resends the unacked message once."""
    port = live.free_port()
    monkeypatch.setattr(live, "free_port", lambda: port)
    env = live.server_env(live.unique_prefix())
    buyer = factories.buyer(shop_a, "lr1", "会飞的兔子")
    chat = new_context(base_url=f"http://127.0.0.1:{port}").new_page()
    mine = chat.locator("#transcript .msg.mine")
    with live.daphne(env):
        chat.goto(f"/chat/{shop_a.pk}/?token={buyer_token(buyer)}")
        chat.locator("#input").fill("第一条")
        chat.locator("#input").press("Enter")
        expect(mine.locator(".state")).to_have_attribute("data-state", "acked")

    expect(chat.locator("#conn-state")).to_have_attribute("data-state", re.compile("waiting|connecting"))
    chat.locator("#input").fill("断网时发的")
    chat.locator("#input").press("Enter")
    expect(mine.last.locator(".state")).to_have_attribute("data-state", "sending")
    conv = Conversation.objects.get(buyer=buyer)
    services.post_agent_message(agent=agent, conversation=conv, text="稍等，我查一下", client_msg_id="a1")

    with live.daphne(env):
        # The page tries again after its backoff (up to 30 s, chat-core.js MAX_BACKOFF_MS), then connects.
        reconnected = expect(chat.locator("#conn-state"))
        reconnected.to_have_attribute("data-state", "open", timeout=30_000 + SAFETY_TIMEOUT_MS)
        expect(mine.last.locator(".state")).to_have_attribute("data-state", "acked")
        expect(chat.locator("#transcript .msg.theirs .text")).to_have_text(["稍等，我查一下"])
        expect(mine.locator(".text")).to_have_text(["第一条", "断网时发的"])
    assert list(conv.messages.order_by("seq").values_list("text", flat=True)) == [
        "第一条",
        "稍等，我查一下",
        "断网时发的",
    ]
