"""The owner's routing set-up in a real browser, in Chinese (zh-hans): sign in to the admin, create an agent
account with its group, weight and routing on the same form, give a group a scope by its widgets (a buyer
tag, an order state), set the queue order on the settings page; the new agent is then routable."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import global_settings
from playwright.sync_api import expect

from backoffice.models import Shop, StaffAccount
from routing import config, services
from routing.models import AgentGroup, AgentState, RoutingSettings
from tests.backoffice import factories
from tests.browser.conftest import make_agent, requires_chromium, requires_live_stack
from tests.conftest import PASSWORD
from tests.live import daphne, server_env, unique_prefix

pytestmark = [requires_live_stack, requires_chromium, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def fresh_server(transactional_db: None) -> Iterator[str]:
    """A server of this test's own, stopped (and its connections gone) before the tables are flushed. The
    package's server caches content types (``ContentType.objects``), which the flush after an earlier test
    gave new ids; the history entry the admin writes with every save would name a missing one there."""
    with daphne(server_env(unique_prefix())) as (host, _process):
        yield f"http://{host}"


@pytest.fixture
def browser_page(fresh_server: str, new_context: Any) -> Any:
    """A page on ``fresh_server`` (its context is closed by ``new_context`` before the server stops)."""
    return new_context(base_url=fresh_server).new_page()


def saved(page: Any) -> None:
    expect(page.locator(".messagelist .success")).to_be_visible()


def test_the_owner_sets_up_routing_without_json_and_the_new_agent_is_routable(
    browser_page: Any, role_groups: None, shop_a: Shop, owner: StaffAccount, settings: Any
) -> None:
    # Signed in through the sign-in page: the password hashed as the server checks it (Django's default).
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    owner.user.set_password(PASSWORD)
    owner.user.save(update_fields=["password"])
    services.set_agent_status(staff=owner, status="offline")
    members = config.save_group(actor=owner, group=AgentGroup(name="会员专席"))
    others = config.save_group(actor=owner, group=AgentGroup(name="普通组"))
    colleague = make_agent(shop_a, "colleague", "普通客服")
    services.configure_agent(staff=colleague, group=others)
    gold = factories.buyer(shop_a, "gold1", "金卡买家", tags={"member_level": "金卡会员", "region": "浙江"})
    factories.buyer(shop_a, "silver1", "银卡买家", tags={"member_level": "银卡会员", "region": "上海"})

    page = browser_page
    page.goto("/admin/login/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.locator("#id_username").fill(owner.user.username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#login-form [type=submit]").click()
    expect(page.locator("#user-tools")).to_be_visible()  # signed in

    # A new agent, in the members' group, on the account form itself.
    page.goto("/admin/backoffice/staffaccount/add/")
    expect(page.locator("fieldset h2", has_text="分流")).to_be_visible()
    page.locator("#id_login").fill("vip_agent")
    page.locator("#id_password").fill("another-long-password")
    page.locator("#id_display_name").fill("会员专席-小金")
    page.locator("#id_role").select_option("agent")
    page.locator("#id_im_enabled").check()
    page.locator("#id_agent_group").select_option(label="会员专席")
    page.locator("#id_agent_weight").fill("2")
    expect(page.locator("#id_agent_routing")).to_be_checked()  # takes part in routing by default
    page.locator("[name=_save]").click()
    saved(page)
    agent = StaffAccount.objects.get(user__username="vip_agent")
    state = AgentState.objects.get(staff=agent)
    assert (state.group_id, state.weight, state.routing) == (members.pk, 2, True)

    # The group's scope, by its widgets: a buyer tag of this shop's buyers and an order state.
    page.goto("/admin/routing/agentgroup/")
    page.get_by_role("link", name="会员专席").click()
    crowd = page.locator("#id_crowd")
    expect(crowd).to_contain_text("会员等级")
    expect(crowd).to_contain_text("银卡会员")
    crowd.get_by_label("金卡会员").check()
    page.locator("input[name=order_states][value=shipped]").check()
    shipped = page.locator("label", has=page.locator("input[name=order_states][value=shipped]"))
    expect(shipped).to_contain_text("已发货")
    page.locator("input[name=intents][value=urge_shipping]").check()
    page.locator("[name=_save]").click()
    saved(page)
    group = AgentGroup.objects.get(pk=members.pk)
    assert (group.crowd, group.order_states, group.intents) == (
        {"member_level": ["金卡会员"]},
        ["shipped"],
        ["urge_shipping"],
    )

    # The shop's settings: one page from the menu, the queue order the owner's to set.
    page.goto("/admin/")
    page.get_by_role("link", name="分流设置").first.click()
    expect(page.locator("#id_queue_order")).to_be_visible()
    page.locator("#id_queue_order").select_option("lifo")
    page.locator("[name=_save]").click()
    saved(page)
    expect(page.locator("#id_queue_order")).to_have_value("lifo")  # back on the one settings form
    assert RoutingSettings.objects.get(shop=shop_a).queue_order == "lifo"

    # Routable: online, a gold member is routed to the new agent by the crowd scope.
    services.set_agent_status(staff=agent, status="online")
    conv, decision = services.request_human(buyer=gold)
    assert conv.agent_id == agent.pk and decision is not None
    assert (decision.rule, decision.group_id) == ("group_by_crowd/idle_ratio", members.pk)
