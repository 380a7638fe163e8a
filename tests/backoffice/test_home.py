"""The console's home page (``/``): what the signed-in account can open, following its rights (the
workbench with the IM permission, the admin's sections it may view, the API documentation for those who
manage API keys), the shop switcher, the sign-in link for visitors and the demo buyer picker where the demo
turned it on. Styled by the console's own stylesheet (no inline style: the CSP test scans the template)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client

from backoffice import services
from backoffice.models import Role, Shop, StaffAccount
from tests.backoffice import factories
from tests.conftest import PASSWORD, login_client


def home(client: Client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    return str(response.content.decode())


def admin_links(page: str) -> set[str]:
    """The admin pages the home page links, by their admin URL."""
    return set(re.findall(r'href="(/admin/[a-z_]+/[a-z_]+/)"', page))


def changelists() -> set[str]:
    return {f"/admin/{m._meta.app_label}/{m._meta.model_name}/" for m in admin.site._registry}


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.CS_SUPERVISOR, Role.OPERATIONS, Role.AGENT])
def test_the_admin_links_are_exactly_the_pages_the_account_may_open(
    role: str, shop_a: Shop, owner: StaffAccount
) -> None:
    staff = (
        owner if role == Role.OWNER else factories.staff(shop_a, f"home_{role}", f"员工-{role}", role=role)
    )
    client = login_client(staff)
    links = admin_links(home(client))
    assert links, f"{role}: no admin section"
    for url in sorted(changelists()):
        status = client.get(url, follow=True).status_code  # the routing settings' list leads to its one page
        assert (url in links) == (status == 200), f"{role}: {url} answers {status}, linked: {url in links}"


def test_an_agent_sees_the_workbench_and_the_commerce_data_only(teammate_client: Client) -> None:
    page = home(teammate_client)
    assert 'id="home-workbench" href="/workbench/"' in page and 'id="home-phrases"' in page
    assert "/admin/backoffice/order/" in page and "/admin/backoffice/buyer/" in page
    for hidden in ("/admin/backoffice/staffaccount/", "/admin/backoffice/apikey/", "/admin/phrases/phrase/"):
        assert hidden not in page
    assert "/admin/backoffice/contactview/" not in page
    assert "/api/v1/docs" not in page  # for those who manage API keys


def test_the_owner_sees_staff_keys_phrases_the_view_record_and_the_api_docs(owner_client: Client) -> None:
    page = home(owner_client)
    for url in (
        "/admin/backoffice/staffaccount/",
        "/admin/backoffice/apikey/",
        "/admin/phrases/phrase/",
        "/admin/backoffice/contactview/",
        "/api/v1/docs",
    ):
        assert url in page, url


def test_an_account_without_the_im_permission_gets_no_workbench_link(shop_a: Shop) -> None:
    operations = factories.staff(shop_a, "ops_a", "运营-阿杰", role=Role.OPERATIONS, im=False)
    page = home(login_client(operations))
    assert "/workbench/" not in page and 'id="home-phrases"' not in page
    assert "/admin/backoffice/order/" in page


def test_a_person_of_two_shops_gets_the_shop_switcher(teammate: StaffAccount, shop_b: Shop) -> None:
    services.create_staff_account(
        shop=shop_b,
        login="agent_a",
        password=PASSWORD,
        display_name="外包-小美",
        role=Role.AGENT,
        im_enabled=True,
    )
    page = home(login_client(teammate))
    assert 'id="shop-switch"' in page and shop_b.name in page


def test_a_visitor_gets_the_sign_in_link_and_nothing_of_any_shop(
    client: Client, shop_a: Shop, settings: Any
) -> None:
    settings.DEMO_BUYER_PICKER = True  # shop A is no demo shop: its picker is its staff's
    page = home(client)
    assert 'id="home-sign-in" href="/admin/login/?next=/"' in page
    assert shop_a.name not in page and "/demo/" not in page and "/workbench/" not in page
    assert not admin_links(page)


def test_the_demo_picker_link_where_the_demo_turned_it_on(
    client: Client, teammate_client: Client, teammate: StaffAccount, settings: Any
) -> None:
    demo = services.create_shop(
        name="演示店", manager_name="林晓鹿", owner_login="demo_owner", owner_password=PASSWORD, demo=True
    )
    settings.DEMO_BUYER_PICKER = False
    assert "/demo/" not in home(client) and "/demo/" not in home(teammate_client)

    settings.DEMO_BUYER_PICKER = True
    assert f'href="/chat/{demo.pk}/demo/"' in home(client)  # a demo shop's picker needs no sign-in
    page = home(teammate_client)
    assert f'href="/chat/{teammate.shop_id}/demo/"' in page and f'href="/chat/{demo.pk}/demo/"' in page
    # Every linked picker opens for whoever got the link.
    for url in re.findall(r'href="(/chat/\d+/demo/)"', page):
        assert teammate_client.get(url).status_code == 200


def test_the_home_page_uses_the_console_stylesheet(teammate_client: Client) -> None:
    page = home(teammate_client)
    assert '<link rel="stylesheet" href="/static/backoffice/console.css">' in page
    assert 'class="home"' in page and "style=" not in page
