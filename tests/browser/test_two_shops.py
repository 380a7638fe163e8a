"""The outsourced agent's two-tab, two-shop day (issue 14): one person with accounts in two shops, two tabs
of one browser (one session). Tab B switches the session to shop B; tab A, still shop A's page, must not
show shop B's products, colleagues or phrases: its next request gets the banner, which switches the session
back (tab A works again) or reloads the page as the session's shop (tab B, now stale, does that)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from backoffice import services as shop_services
from backoffice.models import Role, Shop, StaffAccount
from phrases import services as phrase_services
from routing import services
from tests.backoffice import factories
from tests.browser.conftest import make_agent, requires_chromium, requires_live_stack
from tests.conftest import PASSWORD

pytestmark = [requires_live_stack, requires_chromium, pytest.mark.django_db(transaction=True)]


def open_tab(context: Any) -> Any:
    page = context.new_page()
    page.goto("/workbench/")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    return page


def refused(page: Any, fragment: str) -> Any:
    """Waits for the page's next request whose URL contains ``fragment`` to be refused as shop_changed."""
    return page.expect_response(lambda r: fragment in r.url and r.status == 409)


def test_an_agent_of_two_shops_in_two_tabs_never_sees_the_other_shops_data(
    new_context: Any, shop_a: Shop, shop_b: Shop, owner_offline: StaffAccount, outsider: StaffAccount
) -> None:
    services.set_agent_status(staff=outsider, status="offline")
    agent_a = make_agent(shop_a, "outsourced", "外包-小美")
    agent_b = shop_services.create_staff_account(
        shop=shop_b,
        login="outsourced",
        password=PASSWORD,
        display_name="外包-小美B",
        role=Role.AGENT,
        im_enabled=True,
    )
    assert agent_b.user_id == agent_a.user_id
    services.configure_agent(staff=agent_b)
    services.set_agent_status(staff=agent_b, status="online")
    # To the agent: the only one of shop A online yet.
    services.request_human(buyer=factories.buyer(shop_a, "two1", "A店的买家"))
    make_agent(shop_a, "colleague_a", "A店-小林")
    make_agent(shop_b, "colleague_b", "B店-阿强")
    factories.product(shop_a, "pa", "A店的枕头", "99.00")
    factories.product(shop_b, "pb", "B店的枕头", "88.00")
    phrase_services.create_phrase(
        actor=owner_offline, scope="team", content="A店：明天发货", keywords=["发货"]
    )
    phrase_services.create_phrase(actor=outsider, scope="team", content="B店：今天发货", keywords=["发货"])

    context = new_context(agent_a)
    tab_a = open_tab(context)
    expect(tab_a).to_have_title(re.compile(shop_a.name))
    expect(tab_a.locator("#pane-buyer")).to_have_text("A店的买家")
    tab_b = open_tab(context)
    tab_b.locator("#shop-switch").select_option(str(shop_b.pk))  # the header's shop menu
    expect(tab_b).to_have_title(re.compile(shop_b.name))
    expect(tab_b.locator("#conn-state")).to_have_attribute("data-state", "open")

    banner = tab_a.locator("#shop-changed")
    expect(banner).to_be_hidden()
    # Tab A's product search: the banner, not shop B's products.
    with refused(tab_a, "/api/v1/routing/products"):
        tab_a.keyboard.press("Alt+P")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(shop_b.name)
    expect(tab_a.locator("#shop-reload")).to_contain_text(shop_b.name)
    expect(tab_a.locator("#product-dialog")).to_be_hidden()
    expect(tab_a.locator("body")).not_to_contain_text("B店的枕头")
    # Its transfer list: not shop B's colleagues.
    with refused(tab_a, "/api/v1/routing/agents"):
        tab_a.keyboard.press("Alt+T")
    expect(tab_a.locator("#transfer-dialog")).to_be_hidden()
    expect(tab_a.locator("#transfer-agent")).not_to_contain_text("B店-阿强")
    # Its phrase suggestions: not shop B's phrases.
    with refused(tab_a, "/api/v1/phrases/suggest"):
        tab_a.locator("#input").press_sequentially("发货")
    expect(tab_a.locator("#suggest-list")).to_be_hidden()
    expect(tab_a.locator("body")).not_to_contain_text("B店：今天发货")

    # Switch back: the session works in shop A again, and tab A with it.
    tab_a.locator("#shop-switch-back").click()
    expect(tab_a).to_have_title(re.compile(shop_a.name))
    expect(tab_a.locator("#conn-state")).to_have_attribute("data-state", "open")
    expect(tab_a.locator("#shop-changed")).to_be_hidden()
    tab_a.keyboard.press("Alt+P")
    expect(tab_a.locator("#product-results button.result")).to_contain_text("A店的枕头")
    tab_a.locator("#product-dialog [data-close]").click()
    tab_a.keyboard.press("Alt+T")
    expect(tab_a.locator("#transfer-agent")).to_contain_text("A店-小林")
    expect(tab_a.locator("#transfer-agent")).not_to_contain_text("B店-阿强")
    tab_a.locator("#transfer-dialog [data-close]").click()

    # Tab B is now the stale one: its next request gets the banner; "reload" makes it shop A's page.
    with refused(tab_b, "/api/v1/routing/queue"):
        tab_b.keyboard.press("Alt+2")
    expect(tab_b.locator("#shop-changed")).to_contain_text(shop_a.name)
    tab_b.locator("#shop-reload").click()
    expect(tab_b).to_have_title(re.compile(shop_a.name))
    expect(tab_b.locator("#shop-changed")).to_be_hidden()
    expect(tab_b.locator("#conn-state")).to_have_attribute("data-state", "open")


def test_a_workbench_whose_socket_reconnects_after_the_switch_shows_the_banner(
    new_context: Any, shop_a: Shop, shop_b: Shop, owner_offline: StaffAccount
) -> None:
    """The socket names the page's shop: reconnecting after the switch (a network blip, here the test
    closing the page's socket), it is refused (4409), and the page says so instead of receiving shop B's
    chats as shop B's agent."""
    agent_a = make_agent(shop_a, "outsourced2", "外包-小雅")
    shop_services.create_staff_account(
        shop=shop_b,
        login="outsourced2",
        password=PASSWORD,
        display_name="外包-小雅B",
        role=Role.AGENT,
        im_enabled=True,
    )
    sockets: list[Any] = []

    def relay(ws: Any) -> None:
        sockets.append(ws)
        ws.connect_to_server()

    context = new_context(agent_a)
    tab_a = context.new_page()
    tab_a.route_web_socket(re.compile(r"/ws/agent/"), relay)
    tab_a.goto("/workbench/")
    expect(tab_a.locator("#conn-state")).to_have_attribute("data-state", "open")
    tab_b = open_tab(context)
    tab_b.locator("#shop-switch").select_option(str(shop_b.pk))
    expect(tab_b).to_have_title(re.compile(shop_b.name))

    sockets[0].close(code=4000)  # the page reconnects, naming shop A
    expect(tab_a.locator("#shop-changed")).to_be_visible()
    expect(tab_a.locator("#shop-changed")).to_contain_text(shop_b.name)
    expect(tab_a.locator("#conn-state")).to_have_attribute("data-state", "closed")
    assert len(sockets) == 2  # refused for good: no more retries
