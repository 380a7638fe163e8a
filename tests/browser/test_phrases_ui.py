"""Quick phrases in the workbench, in a browser: "/" + code and Enter sends the phrase filled from the
conversation; plain-text suggestions that leave Enter and Esc alone until the agent moves into the list;
the side panel's search and click-to-insert; phrases linked to the chat's product ranked first; and a phrase
holding markup shown and sent as text."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from backoffice.models import Shop, StaffAccount
from phrases import services as phrase_services
from phrases.models import Phrase, PhraseUse
from routing import services
from routing.models import Conversation
from tests.backoffice import factories
from tests.browser.conftest import open_chat, open_workbench, requires_chromium, requires_live_stack

pytestmark = [requires_live_stack, requires_chromium, pytest.mark.django_db(transaction=True)]

SHIP = "{买家昵称}，您的订单 {订单号} 会在 {发货时间} 前发货哦"
SCRIPT = "亲 <script>window.__xss = 1</script> 已为您备注"


def team(owner: StaffAccount, content: str, **kw: Any) -> Phrase:
    return phrase_services.create_phrase(actor=owner, scope="team", content=content, **kw)


def chat_with_agent(
    new_context: Any, shop: Shop, agent: StaffAccount, platform_id: str, nickname: str
) -> Any:
    """The buyer's page and the agent's workbench, with the buyer's first message on both."""
    workbench = open_workbench(new_context, agent)
    chat = open_chat(new_context, shop, platform_id, nickname)
    chat.locator("#input").fill("在吗")
    chat.locator("#input").press("Enter")
    expect(workbench.locator("#transcript .msg.theirs .text")).to_have_text("在吗")
    expect(workbench.locator("#buyer-panel .bp")).to_be_attached()
    return workbench, chat


def test_slash_code_and_enter_sends_the_phrase_filled_from_the_conversation(
    new_context: Any, shop_a: Shop, owner: StaffAccount, agent: StaffAccount
) -> None:
    phrase = team(owner, SHIP, code="fh", keywords=["发货"])
    ship_by = datetime(2025, 6, 18, 16, tzinfo=ZoneInfo("Asia/Shanghai"))
    factories.order(shop_a, "O-FH-1", "fh1", ship_by=ship_by, created_at=ship_by - timedelta(days=1))
    workbench, chat = chat_with_agent(new_context, shop_a, agent, "fh1", "小王")
    box = workbench.locator("#input")

    box.press_sequentially("/fh")
    suggestion = workbench.locator("#suggest-list .suggestion")
    expect(suggestion).to_have_count(1)
    expect(suggestion.locator(".p-code")).to_have_text("/fh")
    expect(suggestion.locator(".p-content")).to_have_text(SHIP)  # the phrase as written
    box.press("Enter")

    sent = "小王，您的订单 O-FH-1 会在 6月18日 前发货哦"
    expect(chat.locator("#transcript .msg.theirs .text")).to_have_text(sent)
    expect(workbench.locator("#transcript .msg.mine .text")).to_have_text(sent)
    expect(box).to_have_value("")
    expect(workbench.locator("#suggest-list")).to_be_hidden()
    phrase.refresh_from_db()
    assert phrase.usage_count == 1
    assert PhraseUse.objects.filter(staff=agent, phrase=phrase).exists()


def test_a_code_typed_fast_is_looked_up_on_enter(
    new_context: Any, shop_a: Shop, owner: StaffAccount, agent: StaffAccount
) -> None:
    """Enter before the suggestions arrive still sends the exact code's phrase, not "/hi"."""
    team(owner, "{买家昵称}您好，{客服昵称}为您服务", code="hi")
    team(owner, "您好，欢迎光临", code="hi2")
    workbench, chat = chat_with_agent(new_context, shop_a, agent, "fast1", "小李")
    workbench.locator("#input").fill("/hi")
    workbench.locator("#input").press("Enter")
    expect(chat.locator("#transcript .msg.theirs .text")).to_have_text("小李您好，售前-小美为您服务")


def test_text_suggestions_do_not_block_enter_and_esc_closes_them_first(
    new_context: Any, shop_a: Shop, owner: StaffAccount, agent: StaffAccount
) -> None:
    team(owner, "亲，今天 {发货时间|16点} 前下单当天发货哦", code="fh")
    team(owner, "亲，周末也照常发货的", keywords=["周末"])
    workbench, chat = chat_with_agent(new_context, shop_a, agent, "tx1", "小赵")
    box = workbench.locator("#input")
    suggestions = workbench.locator("#suggest-list .suggestion")

    # Typed text with a list open: Enter sends what was typed.
    box.press_sequentially("发货")
    expect(suggestions).to_have_count(2)
    expect(workbench.locator("#suggest-list [aria-selected='true']")).to_have_count(0)
    box.press("Enter")
    expect(chat.locator("#transcript .msg.theirs .text")).to_have_text("发货")
    expect(workbench.locator("#suggest-list")).to_be_hidden()

    # Esc closes the list and keeps the chat; the next Esc would end it.
    box.press_sequentially("发货")
    expect(suggestions).to_have_count(2)
    box.press("Escape")
    expect(workbench.locator("#suggest-list")).to_be_hidden()
    expect(workbench.locator("#session-list li.session")).to_have_count(1)
    expect(box).to_have_value("发货")

    # Moving into the list (↓ twice, ↑ once = the first; Tab = the next) and Enter sends that phrase.
    box.press_sequentially("哦")  # "发货哦": only the first phrase
    expect(suggestions).to_have_count(1)
    box.press("Backspace")
    expect(suggestions).to_have_count(2)
    box.press("Tab")
    expect(suggestions.first).to_have_attribute("aria-selected", "true")
    expect(box).to_be_focused()
    box.press("Enter")
    expect(chat.locator("#transcript .msg.theirs .text").last).to_have_text("亲，今天 16点 前下单当天发货哦")
    expect(box).to_have_value("")
    expect(workbench.locator("#session-list li.session")).to_have_count(1)


def test_side_panel_search_and_click_inserts_the_filled_text_to_edit(
    new_context: Any, shop_a: Shop, owner: StaffAccount, agent: StaffAccount
) -> None:
    team(owner, "{买家昵称}，退货请寄回仓库", keywords=["退货"])
    team(owner, "欢迎下次光临")
    phrase_services.create_phrase(actor=agent, scope="personal", content="我是小美，很高兴为您服务")
    workbench, chat = chat_with_agent(new_context, shop_a, agent, "sp1", "小孙")
    panel = workbench.locator("#phrase-panel")
    expect(panel.locator(".p-all button.phrase")).to_have_count(3)
    expect(panel.locator("button.phrase[data-scope='personal'] .p-content")).to_have_text(
        "我是小美，很高兴为您服务"
    )

    workbench.keyboard.press("Alt+Q")
    expect(workbench.locator("#phrase-q")).to_be_focused()
    # Traditional characters find it too. One input event, one search: typed a key at a time on a slow
    # machine, "退" could be searched first and its list (the same phrase) replaced after ArrowDown.
    workbench.locator("#phrase-q").fill("退貨")
    found = panel.locator(".p-all button.phrase")
    expect(found).to_have_count(1)
    workbench.locator("#phrase-q").press("ArrowDown")
    expect(found).to_be_focused()
    workbench.keyboard.press("Enter")  # Enter on the focused phrase inserts it

    box = workbench.locator("#input")
    expect(box).to_have_value("小孙，退货请寄回仓库")
    expect(box).to_be_focused()
    box.press("End")
    box.press_sequentially("，谢谢")
    box.press("Enter")
    expect(chat.locator("#transcript .msg.theirs .text")).to_have_text("小孙，退货请寄回仓库，谢谢")

    # The use is recorded: it shows under "recently used" once the search is cleared.
    workbench.locator("#phrase-q").fill("")
    expect(panel.locator(".p-recent button.phrase .p-content")).to_have_text(["{买家昵称}，退货请寄回仓库"])

    # A click inserts at the caret, into what is already typed.
    box.fill("好的。")
    panel.locator(".p-all button.phrase", has_text="欢迎下次光临").click()
    expect(box).to_have_value("好的。欢迎下次光临")


def test_a_fact_the_conversation_lacks_is_inserted_for_the_agent_to_fill_not_sent(
    new_context: Any, shop_a: Shop, owner: StaffAccount, agent: StaffAccount
) -> None:
    team(owner, "亲，今天 {发货时间} 前下单当天发货哦", code="fh")
    workbench, chat = chat_with_agent(new_context, shop_a, agent, "nf1", "没有订单的买家")
    box = workbench.locator("#input")
    box.press_sequentially("/fh")
    expect(workbench.locator("#suggest-list .suggestion")).to_have_count(1)
    box.press("Enter")
    expect(box).to_have_value("亲，今天 【发货时间】 前下单当天发货哦")
    assert box.evaluate("el => el.value.substring(el.selectionStart, el.selectionEnd)") == "【发货时间】"
    expect(workbench.locator("#transcript .msg.mine")).to_have_count(0)
    box.press_sequentially("下午4点")  # replaces the selected marker
    box.press("Enter")
    expect(chat.locator("#transcript .msg.theirs .text")).to_have_text("亲，今天 下午4点 前下单当天发货哦")


def test_phrases_linked_to_the_chats_product_rank_first(
    new_context: Any, shop_a: Shop, owner: StaffAccount, agent: StaffAccount
) -> None:
    pillow = factories.product(shop_a, "pp1", "记忆棉慢回弹枕头")
    popular = team(owner, "亲，所有商品今天下单今天发货")
    linked = team(owner, "枕头今天发货，顺丰包邮", products=[pillow])
    for _ in range(3):
        phrase_services.use_phrase(staff=owner, phrase=popular)
    conv, _decision = services.request_human(
        buyer=factories.buyer(shop_a, "pr1", "看枕头的买家"), source_product=pillow
    )
    assert Conversation.objects.get(pk=conv.pk).agent_id == agent.pk
    workbench = open_workbench(new_context, agent)
    expect(workbench.locator("#buyer-panel .bp-product")).to_contain_text("记忆棉慢回弹枕头")

    workbench.locator("#input").press_sequentially("发货")
    suggestions = workbench.locator("#suggest-list .suggestion")
    expect(suggestions).to_have_count(2)
    expect(suggestions.first).to_have_attribute("data-id", str(linked.pk))
    expect(suggestions.first).to_have_class("suggestion linked")
    expect(suggestions.nth(1)).to_have_attribute("data-id", str(popular.pk))
    first_in_panel = workbench.locator("#phrase-panel .p-all button.phrase").first
    expect(first_in_panel).to_have_attribute("data-id", str(linked.pk))


def test_a_phrase_with_markup_is_shown_and_sent_as_text(
    new_context: Any, shop_a: Shop, owner: StaffAccount, agent: StaffAccount
) -> None:
    team(owner, SCRIPT, code="xs")
    workbench, chat = chat_with_agent(new_context, shop_a, agent, "xs1", "小钱")
    expect(workbench.locator("#phrase-panel .p-content").first).to_have_text(SCRIPT)
    workbench.locator("#input").press_sequentially("/xs")
    expect(workbench.locator("#suggest-list .p-content")).to_have_text(SCRIPT)
    workbench.locator("#input").press("Enter")
    expect(chat.locator("#transcript .msg.theirs .text")).to_have_text(SCRIPT)
    expect(workbench.locator("#transcript .msg.mine .text")).to_have_text(SCRIPT)
    assert workbench.evaluate("window.__xss") is None
    assert chat.evaluate("window.__xss") is None


def test_the_panel_shows_phrases_imported_elsewhere_without_a_use_first(
    new_context: Any, shop_a: Shop, owner: StaffAccount, agent: StaffAccount
) -> None:
    """Issue 14: the panel loaded its list once, so after an import (in the admin, another tab) it kept
    saying "nothing found" until the agent first used a phrase. The answers name the shop's phrase version:
    the next suggestion the agent types for reloads the list; coming back to the tab does too."""
    workbench, _chat = chat_with_agent(new_context, shop_a, agent, "im1", "小周")
    nothing = workbench.evaluate(
        "() => JSON.parse(document.getElementById('wb-initial').textContent).strings.no_results"
    )
    panel = workbench.locator("#phrase-list")
    expect(panel).to_contain_text(nothing)

    # As the admin's import page does: the library's logistics phrases.
    phrase_services.import_templates(actor=owner, scope="team", scenarios=["logistics"])
    workbench.locator("#input").press_sequentially("发货")
    expect(workbench.locator("#suggest-list .suggestion").first).to_be_visible()
    expect(panel.locator(".p-all button.phrase").first).to_be_visible()
    expect(panel).not_to_contain_text(nothing)

    team(owner, "新导入的一条：感谢您的耐心等待")
    workbench.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")  # back to the tab
    expect(panel).to_contain_text("新导入的一条：感谢您的耐心等待")
