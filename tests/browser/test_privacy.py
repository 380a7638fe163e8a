"""What an agent and the owner see of a buyer's phone number beside the chat: masked for the agent, in full
for the owner (recorded), and the order's amounts labelled, an unpaid order saying so."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from backoffice.models import ContactView, Shop, StaffAccount
from routing import services
from tests.backoffice import factories
from tests.browser.conftest import open_chat, open_workbench, requires_chromium, requires_live_stack

pytestmark = [requires_live_stack, requires_chromium, pytest.mark.django_db(transaction=True)]


def test_the_buyer_panel_masks_the_phone_for_an_agent_and_shows_it_to_the_owner(
    new_context: Any, shop_a: Shop, agent: StaffAccount, owner: StaffAccount
) -> None:
    factories.order(
        shop_a,
        "O-PRIV-LIVE",
        "pb1",
        status="unpaid",
        paid_at=None,
        paid_amount="0",
        receiver_phone="13912345678",
        address="浙江省杭州市西湖区文三路1号",
    )
    workbench = open_workbench(new_context, agent)
    chat = open_chat(new_context, shop_a, "pb1", "爱吃草莓的小熊")
    chat.locator("#input").fill("在吗")
    chat.locator("#input").press("Enter")
    workbench.locator("#session-list li.session").first.click()

    order = workbench.locator('#buyer-panel .order[data-number="O-PRIV-LIVE"]')
    expect(order.locator(".phone")).to_have_text("139****5678")
    expect(order.locator(".address")).to_contain_text("浙江省杭州市西湖区****")
    expect(order.locator(".amount-unpaid")).to_be_visible()
    expect(order.locator(".amount-paid")).to_have_count(0)
    assert not ContactView.objects.exists()

    # The owner takes the chat over (a transfer), and sees the number in full; that showing is recorded.
    services.set_agent_status(staff=owner, status="online")
    conversation = services.transfer(
        conversation=agent.conversations.get(), to_agent=owner, by=agent, note="买家要电话回访"
    )
    owner_bench = open_workbench(new_context, owner)
    owner_bench.locator("#session-list li.session").first.click()
    owner_order = owner_bench.locator('#buyer-panel .order[data-number="O-PRIV-LIVE"]')
    expect(owner_order.locator(".phone")).to_have_text("13912345678")
    assert ContactView.objects.filter(order__number="O-PRIV-LIVE", staff=owner, place="workbench").exists()
    assert conversation.agent_id == owner.pk
