"""Owner configures staff in admin; roles and rights resolve per shop; one person, several shops."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from backoffice import services
from backoffice.errors import Forbidden, Invalid
from backoffice.models import Role, Shop, StaffAccount
from backoffice.tenancy import bind_staff
from tests.backoffice.factories import sign_in, signed_in
from tests.conftest import PASSWORD, login_client

ADD_URL = reverse("admin:backoffice_staffaccount_add")


def change_url(staff: StaffAccount) -> str:
    return reverse("admin:backoffice_staffaccount_change", args=[staff.pk])


def right(codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label="backoffice", codename=codename)


def test_owner_creates_a_sub_account_with_role_im_and_rights(shop_a: Shop, owner_client: Client) -> None:
    response = owner_client.post(
        ADD_URL,
        {
            "login": "kefu01",
            "password": "another-long-password",
            "display_name": "售后-阿杰",
            "role": "agent",
            "im_enabled": "on",
            "rights": [right("view_reports").pk],
            "agent_weight": 1,  # the form's routing section (routing/admin.py)
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    staff = StaffAccount.objects.get(user__username="kefu01")
    assert (staff.shop, staff.display_name, staff.role, staff.im_enabled) == (
        shop_a,
        "售后-阿杰",
        "agent",
        True,
    )
    client = Client()
    assert sign_in(client, "kefu01", "another-long-password").status_code == 302
    assert client.get("/api/v1/me").json()["permissions"].count("backoffice.view_reports") == 1


def test_a_new_account_form_starts_as_an_agent_with_im(owner_client: Client) -> None:
    """The add form's defaults are an agent who chats: role 客服 and IM ticked (a new agent without IM could
    never go online, and the box was easy to miss)."""
    form = owner_client.get(reverse("admin:backoffice_staffaccount_add")).context["adminform"].form
    assert form["role"].value() == Role.AGENT
    assert form["im_enabled"].value() is True


def test_owner_role_cannot_be_given_to_a_sub_account(owner_client: Client) -> None:
    response = owner_client.post(
        ADD_URL, {"login": "x1", "password": "another-long-password", "display_name": "x", "role": "owner"}
    )
    assert response.status_code == 200
    assert not StaffAccount.objects.filter(user__username="x1").exists()


def test_owner_edits_and_disables_a_sub_account(teammate: StaffAccount, owner_client: Client) -> None:
    response = owner_client.post(
        change_url(teammate),
        {
            "display_name": "售前-小美美",
            "role": "cs_supervisor",
            "rights": [right("manage_team_phrases").pk],
            "agent_weight": 1,
        },
    )
    assert response.status_code == 302
    teammate.refresh_from_db()
    assert (teammate.display_name, teammate.role, teammate.im_enabled, teammate.is_active) == (
        "售前-小美美",
        "cs_supervisor",
        False,
        False,
    )
    # A disabled account's person (with no other shop) can no longer sign in or use the console.
    client = Client()
    assert sign_in(client, "agent_a", PASSWORD).status_code == 200
    assert not signed_in(client)
    assert login_client(teammate).get("/api/v1/me").status_code == 401  # signed out: no active account


def test_owner_display_name_cannot_be_changed(owner: StaffAccount, owner_client: Client) -> None:
    page = owner_client.get(change_url(owner))
    assert 'name="display_name"' not in page.text
    owner_client.post(
        change_url(owner),
        {"display_name": "别的名字", "role": "agent", "im_enabled": "on", "agent_weight": 1},
    )
    owner.refresh_from_db()
    assert (owner.display_name, owner.role, owner.is_active) == ("林晓鹿", "owner", True)
    with pytest.raises(Invalid):
        services.update_staff_account(
            staff=owner, display_name="别的名字", role="owner", im_enabled=True, is_active=True, rights=[]
        )


def test_owner_sees_every_limit_but_cannot_change_it(
    teammate: StaffAccount, owner: StaffAccount, owner_client: Client
) -> None:
    services.set_reception_limit(actor=teammate, staff=teammate, limit=23)
    listing = owner_client.get(reverse("admin:backoffice_staffaccount_changelist"))
    assert "23" in listing.text
    owner_client.post(
        change_url(teammate),
        {
            "display_name": "售前-小美",
            "role": "agent",
            "is_active": "on",
            "max_concurrent": 1,
            "agent_weight": 1,
        },
    )
    teammate.refresh_from_db()
    assert teammate.max_concurrent == 23
    with pytest.raises(Forbidden):
        services.set_reception_limit(actor=owner, staff=teammate, limit=5)


def test_limit_is_bounded_by_the_shop_cap_up_to_500(teammate: StaffAccount) -> None:
    with pytest.raises(Invalid):
        services.set_reception_limit(actor=teammate, staff=teammate, limit=51)
    services.set_reception_cap(shop=teammate.shop, cap=500)
    services.set_reception_limit(actor=teammate, staff=teammate, limit=500)
    with pytest.raises(Invalid):
        services.set_reception_cap(shop=teammate.shop, cap=501)
    services.set_reception_cap(shop=teammate.shop, cap=30)
    teammate.refresh_from_db()
    assert teammate.max_concurrent == 30


def test_only_fine_grained_rights_can_be_granted(shop_a: Shop) -> None:
    with pytest.raises(Invalid):
        services.create_staff_account(
            shop=shop_a,
            login="sneaky",
            password=PASSWORD,
            display_name="x",
            role="agent",
            im_enabled=False,
            rights=[Permission.objects.get(codename="add_user")],
        )


@pytest.mark.parametrize(
    ("role", "perm", "expected"),
    [
        ("owner", "backoffice.manage_routing", True),
        ("admin", "backoffice.change_staffaccount", True),
        ("cs_supervisor", "backoffice.view_reports", True),
        ("cs_supervisor", "backoffice.change_staffaccount", False),
        ("operations", "backoffice.configure_robot", True),
        ("operations", "backoffice.manage_routing", False),
        ("agent", "backoffice.view_order", True),
        ("agent", "backoffice.view_reports", False),
    ],
)
def test_role_groups_carry_their_default_rights(shop_a: Shop, role: str, perm: str, expected: bool) -> None:
    if role == "owner":
        staff = StaffAccount.objects.get(shop=shop_a, role=role)
    else:
        staff = services.create_staff_account(
            shop=shop_a, login=f"r_{role}", password=PASSWORD, display_name=role, role=role, im_enabled=True
        )
    bind_staff(staff.user, staff)
    assert staff.user.has_perm(perm) is expected


def test_a_person_in_two_shops_has_each_shops_rights_only_there(
    shop_a: Shop, shop_b: Shop, teammate: StaffAccount
) -> None:
    # agent_a also works for shop B (an outsourcing agency), as its administrator there.
    services.create_staff_account(
        shop=shop_b,
        login="agent_a",
        password=PASSWORD,
        display_name="外包-小美",
        role=Role.ADMIN,
        im_enabled=True,
    )
    client = login_client(teammate)
    assert client.get("/api/v1/me").json()["shop"]["id"] == shop_a.pk
    assert client.get("/api/v1/staff").status_code == 403

    response = client.post(reverse("switch-shop"), {"shop": shop_b.pk, "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    me = client.get("/api/v1/me").json()
    assert me["shop"]["id"] == shop_b.pk
    assert {s["id"] for s in me["shops"]} == {shop_a.pk, shop_b.pk}
    assert client.get("/api/v1/staff").status_code == 200
    # Shop B's admin now, shop A's objects are out of reach.
    assert client.get(change_url(teammate)).status_code == 404


def test_switching_to_a_shop_without_an_account_is_404(shop_b: Shop, teammate_client: Client) -> None:
    assert teammate_client.post(reverse("switch-shop"), {"shop": shop_b.pk}).status_code == 404
    assert teammate_client.post(reverse("switch-shop"), {"shop": "nope"}).status_code == 404
    assert teammate_client.get("/api/v1/me").json()["shop"]["name"] == "小鹿家居旗舰店"


def test_switch_menu_lists_only_own_shops(shop_b: Shop, owner_client: Client) -> None:
    page = owner_client.get(reverse("admin:index"))
    assert 'id="shop-switch"' in page.text
    assert shop_b.name not in page.text


def test_linking_an_existing_login_needs_its_password(shop_b: Shop, teammate: StaffAccount) -> None:
    with pytest.raises(Invalid):
        services.create_staff_account(
            shop=shop_b, login="agent_a", password="wrong", display_name="x", role="agent", im_enabled=True
        )
    assert not StaffAccount.objects.filter(shop=shop_b, user=teammate.user).exists()


def test_interface_is_chinese_by_default_and_english_on_request(owner_client: Client) -> None:
    assert "店铺设置" in owner_client.get(reverse("admin:index")).text
    owner_client.post(reverse("set_language"), {"language": "en", "next": "/admin/"})
    assert "Shop settings" in owner_client.get(reverse("admin:index")).text


def test_home_page_shows_the_current_staff(owner_client: Client, owner: StaffAccount) -> None:
    assert owner.display_name in owner_client.get("/").text


def test_anonymous_gets_the_sign_in_link(client: Client, db: Any) -> None:
    page = client.get("/")
    assert page.status_code == 200 and 'href="/admin/login/?next=/"' in page.text


def test_home_links_the_workbench_for_im_accounts_only(
    teammate: StaffAccount, shop_a: Shop, settings: Any
) -> None:

    settings.DEBUG = False
    assert "/workbench/" in login_client(teammate).get("/").text
    assert "/demo/" not in login_client(teammate).get("/").text  # the demo picker is a development tool
    no_im = services.create_staff_account(
        shop=shop_a,
        login="ops",
        password="x-long-password-1",
        display_name="运营",
        role="operations",
        im_enabled=False,
    )
    assert "/workbench/" not in login_client(no_im).get("/").text
