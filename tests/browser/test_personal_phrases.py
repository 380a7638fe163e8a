"""An agent manages their own personal phrases from the workbench's phrase panel: a new phrase is usable at
once as "/" + its code; a code already used shows the server's message in the form and creates nothing;
editing changes it in place; deleting (after a confirm) removes it from the panel. Team phrases have no
edit or delete buttons for agents."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from backoffice.models import Shop, StaffAccount
from phrases import services as phrase_services
from phrases.models import Phrase, PhraseGroup
from tests.browser.conftest import open_chat, open_workbench, requires_chromium, requires_live_stack

pytestmark = [requires_live_stack, requires_chromium, pytest.mark.django_db(transaction=True)]


def test_agent_creates_uses_edits_and_deletes_a_personal_phrase(
    new_context: Any, shop_a: Shop, owner: StaffAccount, agent: StaffAccount
) -> None:
    phrase_services.create_phrase(actor=owner, scope="team", content="欢迎光临本店", code="hy")
    group = phrase_services.create_group(actor=agent, scope="personal", name="售后常用")
    workbench = open_workbench(new_context, agent)
    chat = open_chat(new_context, shop_a, "pp1", "小周")
    chat.locator("#input").fill("在吗")
    chat.locator("#input").press("Enter")
    expect(workbench.locator("#transcript .msg.theirs .text")).to_have_text("在吗")
    panel = workbench.locator("#phrase-panel")
    team_entry = panel.locator(".p-all li", has=workbench.locator("button.phrase[data-scope='team']"))
    expect(team_entry).to_have_count(1)
    expect(team_entry.locator(".p-edit, .p-delete")).to_have_count(0)  # team phrases: admin only

    # Create: content, code, keywords, one of my groups.
    form = workbench.locator("#phrase-form")
    expect(form).to_be_hidden()
    workbench.locator("#phrase-new").click()
    expect(form).to_be_visible()
    expect(workbench.locator("#phrase-group option")).to_have_count(2)  # no group + mine
    workbench.locator("#phrase-content").fill("亲，<b>工单</b>已为您登记，请稍候")
    workbench.locator("#phrase-code").fill("wo1")
    workbench.locator("#phrase-keywords").fill("工单，登记, 售后")
    workbench.locator("#phrase-group").select_option(str(group.pk))
    workbench.locator("#phrase-save").click()
    expect(form).to_be_hidden()
    mine = panel.locator(".p-all li.own")
    expect(mine).to_have_count(1)
    expect(mine.locator(".p-content")).to_have_text("亲，<b>工单</b>已为您登记，请稍候")  # as text
    expect(mine.locator(".p-code")).to_have_text("/wo1")
    created = Phrase.objects.get(owner=agent, code="wo1")
    assert created.keyword_list == ["工单", "登记", "售后"]
    assert created.group_id == group.pk

    # Usable at once: "/wo1" + Enter sends it to the buyer.
    box = workbench.locator("#input")
    box.press_sequentially("/wo1")
    box.press("Enter")
    expect(chat.locator("#transcript .msg.theirs .text")).to_have_text("亲，<b>工单</b>已为您登记，请稍候")
    expect(box).to_have_value("")

    # The same code again: the server's message in the form, nothing created.
    workbench.locator("#phrase-new").click()
    expect(workbench.locator("#phrase-form-error")).to_have_text("")
    workbench.locator("#phrase-content").fill("另一条")
    workbench.locator("#phrase-code").fill("wo1")
    workbench.locator("#phrase-save").click()
    expect(workbench.locator("#phrase-form-error")).to_contain_text("wo1")
    expect(form).to_be_visible()
    assert Phrase.objects.filter(owner=agent).count() == 1
    workbench.locator("#phrase-content").press("Escape")  # closes the form, keeps the chat
    expect(form).to_be_hidden()
    expect(workbench.locator("#session-list li.session")).to_have_count(1)

    # Edit in the same form (PUT): the group and code are kept, the content changes.
    mine.locator(".p-edit").click()
    expect(workbench.locator("#phrase-content")).to_have_value("亲，<b>工单</b>已为您登记，请稍候")
    expect(workbench.locator("#phrase-code")).to_have_value("wo1")
    expect(workbench.locator("#phrase-group")).to_have_value(str(group.pk))
    workbench.locator("#phrase-content").fill("亲，工单已登记")
    workbench.locator("#phrase-save").click()
    expect(form).to_be_hidden()
    expect(mine.locator(".p-content")).to_have_text("亲，工单已登记")
    created.refresh_from_db()
    assert created.content == "亲，工单已登记" and created.group_id == group.pk and created.code == "wo1"

    # Delete after a confirm: gone from the panel (and the recent list) and the database.
    messages: list[str] = []

    def accept(dialog: Any) -> None:
        messages.append(dialog.message)
        dialog.accept()

    workbench.on("dialog", accept)
    panel.locator(".p-all li.own .p-delete").click()
    expect(panel.locator("li.own")).to_have_count(0)
    expect(panel.locator(".p-all button.phrase")).to_have_count(1)
    assert messages and "亲，工单已登记" in messages[0]
    assert not Phrase.objects.filter(pk=created.pk).exists()
    assert PhraseGroup.objects.filter(pk=group.pk).exists()
