"""The robot's reception in the browser, on the demo shop (``seed_demo``: the robot is on): a buyer asks where
the parcel is and gets the tracking number, presses "talk to a human" and lands with the after-sale group;
the agent sees the robot's part of the chat, marked as the robot's, and the smart-assist suggestions."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from backoffice.management.commands.seed_demo import MAIN_SHOP
from backoffice.models import Order, OrderStatus, Shop, StaffAccount
from robot.models import RobotSettings
from routing import services
from routing.models import AgentGroup, Conversation
from routing.tokens import buyer_token
from tests.browser.conftest import open_workbench, requires_chromium, requires_live_stack

pytestmark = [requires_live_stack, requires_chromium, pytest.mark.django_db(transaction=True)]


def demo_shop() -> tuple[Shop, StaffAccount, Order]:
    """The seeded demo shop, one after-sale agent online (everyone else offline), and a shipped order with a
    tracking number of a buyer who has no open chat."""
    call_command("seed_demo", "--force")
    shop = Shop.objects.get(name=MAIN_SHOP["name"])
    assert RobotSettings.objects.get(shop=shop).full_auto
    after_sale = AgentGroup.objects.get(shop=shop, name="售后组")
    for staff in StaffAccount.objects.for_shop(shop):
        services.set_agent_status(staff=staff, status="offline")
    agent = StaffAccount.objects.get(shop=shop, user__username="agent4")
    services.set_agent_status(staff=agent, status="online")
    assert agent.agent_state.group_id == after_sale.pk
    busy = set(Conversation.objects.exclude(state="ended").values_list("buyer_id", flat=True))
    latest: dict[int, Order] = {}
    for order in Order.objects.for_shop(shop).order_by("buyer_id", "-created_at").select_related("buyer"):
        latest.setdefault(order.buyer_id, order)
    found = [
        o
        for o in latest.values()
        if o.status == OrderStatus.SHIPPED and o.tracking_number and o.buyer_id not in busy
    ]
    assert found, "the demo has a buyer whose latest order shipped"
    return shop, agent, found[0]


def test_a_demo_buyer_gets_the_tracking_number_then_the_after_sale_group(new_context: Any) -> None:
    shop, agent, order = demo_shop()
    workbench = open_workbench(new_context, agent)
    chat = new_context().new_page()
    chat.goto(f"/chat/{shop.pk}/?token={buyer_token(order.buyer)}")
    expect(chat.locator("#conn-state")).to_have_attribute("data-state", "open")

    chat.locator("#input").fill("我的快递到哪了")
    chat.locator("#input").press("Enter")
    robot = chat.locator("#transcript .msg.theirs")
    expect(robot.filter(has_text=order.tracking_number)).to_have_count(1)
    expect(robot.first.locator(".who")).to_have_text("机器人")

    chat.locator("#menu-btn").click()
    chat.locator("#menu-human").click()
    expect(chat.locator("#serving")).to_contain_text(agent.display_name)
    conv = Conversation.objects.get(buyer=order.buyer, state="active")
    assert (conv.agent_id, conv.group.name if conv.group else None) == (agent.pk, "售后组")
    assert (conv.intent, conv.handoff_reason) == ("logistics", "buyer_asked")

    row = workbench.locator("#session-list li.session")
    expect(row).to_have_count(1)
    row.click()
    part = workbench.locator("#transcript .msg.robot")
    expect(part.filter(has_text=order.tracking_number)).to_have_count(1)
    expect(part.first.locator(".who")).to_contain_text("机器人")
    expect(workbench.locator("#transcript .msg.system").last).to_contain_text("物流")  # the hand-off's notice
    # Smart assist shows suggestions for the buyer's last message; a click puts one in the reply box.
    suggestion = workbench.locator("#assist-list .assist-item").first
    expect(suggestion).to_be_visible()
    suggestion.click()
    expect(workbench.locator("#input")).not_to_have_value("")
