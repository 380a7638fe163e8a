"""Routing set-up from creation: every shop has its routing settings and every staff account its agent state
from the moment it is created (every creation path, and a migration for those created before), and an
agent's group, weight, routing participation and offline-routing listing are set on the staff account form."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from backoffice import services as shop_services
from backoffice.models import Role, Shop, StaffAccount
from routing import services
from routing.models import AgentGroup, AgentState, RoutingSettings
from tests.backoffice import factories
from tests.conftest import PASSWORD, login_client, make_shop

ADD_STAFF = reverse("admin:backoffice_staffaccount_add")
migration = importlib.import_module("routing.migrations.0010_settings_and_agent_states")


def change_staff(staff: StaffAccount) -> str:
    return reverse("admin:backoffice_staffaccount_change", args=[staff.pk])


# --- from creation ------------------------------------------------------------------------------------------


def test_a_new_shop_has_its_settings_and_its_owner_an_agent_state(db: Any) -> None:
    shop = make_shop("新店", "店长", "new_owner")
    owner = StaffAccount.objects.get(shop=shop, role=Role.OWNER)
    assert RoutingSettings.objects.filter(shop=shop).count() == 1
    state = AgentState.objects.get(staff=owner)
    assert (state.shop_id, state.status, state.weight, state.group_id, state.routing) == (
        shop.pk,
        "offline",
        1,
        None,
        True,
    )


@pytest.mark.parametrize("im", [True, False])
def test_a_new_account_has_its_agent_state(shop_a: Shop, im: bool) -> None:
    staff = factories.staff(shop_a, "new_agent", "新客服", im=im)
    assert AgentState.objects.get(staff=staff).shop_id == shop_a.pk


def test_an_existing_login_linked_to_another_shop_has_its_agent_state_there(
    shop_a: Shop, shop_b: Shop, teammate: StaffAccount
) -> None:
    linked = shop_services.create_staff_account(
        shop=shop_b, login="agent_a", password=PASSWORD, display_name="外包", role=Role.AGENT, im_enabled=True
    )
    assert AgentState.objects.get(staff=linked).shop_id == shop_b.pk
    assert AgentState.objects.get(staff=teammate).shop_id == shop_a.pk


def test_the_demo_shops_accounts_have_their_agent_states(db: Any) -> None:
    call_command("seed_demo", force=True, stdout=None)
    staff = StaffAccount.objects.all()
    assert staff.count() >= 9
    assert not staff.filter(agent_state__isnull=True).exists()
    assert not Shop.objects.filter(routing_settings__isnull=True).exists()


def test_the_migration_gives_older_shops_and_accounts_theirs(
    shop_a: Shop, teammate: StaffAccount, owner: StaffAccount
) -> None:
    AgentState.objects.filter(staff=teammate).delete()
    RoutingSettings.objects.filter(shop=shop_a).delete()
    kept = AgentState.objects.get(staff=owner)
    labelled = AgentGroup.objects.create(
        shop=shop_a, name="售后", intents=["退款", "refund", "物流", "自定义"]
    )
    migration.forwards(apps, None)
    assert AgentState.objects.get(staff=teammate).shop_id == shop_a.pk
    assert AgentState.objects.get(staff=owner).pk == kept.pk
    assert RoutingSettings.objects.filter(shop=shop_a).count() == 1
    # Chinese labels become the codes; a value that is no intent stays for the owner to untick.
    assert AgentGroup.objects.get(pk=labelled.pk).intents == ["refund", "logistics", "自定义"]


def test_agents_are_listed_in_agent_states_before_they_open_the_workbench(
    owner_client: Client, teammate: StaffAccount
) -> None:
    page = owner_client.get(reverse("admin:routing_agentstate_changelist")).text
    assert teammate.display_name in page
    assert owner_client.get(reverse("admin:routing_agentstate_add")).status_code == 403


# --- routing on the staff account form ----------------------------------------------------------------------


def new_agent(**changes: Any) -> dict[str, Any]:
    form = {
        "login": "kefu09",
        "password": "another-long-password",
        "display_name": "售后-阿杰",
        "role": "agent",
        "im_enabled": "on",
        "agent_weight": 1,
        "agent_routing": "on",
    }
    return {**form, **changes}


def test_the_owner_puts_a_new_agent_in_a_group_on_the_account_form(
    shop_a: Shop, owner_client: Client, owner_offline: StaffAccount
) -> None:
    group = AgentGroup.objects.create(shop=shop_a, name="售后组", order_states=["shipped"])
    page = owner_client.get(ADD_STAFF).text
    assert 'name="agent_group"' in page and "售后组" in page and 'name="agent_weight"' in page
    response = owner_client.post(ADD_STAFF, new_agent(agent_group=group.pk, agent_weight=3))
    assert response.status_code == 302, response.context["adminform"].form.errors
    staff = StaffAccount.objects.get(user__username="kefu09")
    state = AgentState.objects.get(staff=staff)
    assert (state.group_id, state.weight, state.routing, state.offline_routing) == (group.pk, 3, True, False)
    # Routable at once: online, a buyer with a shipped order is routed to the group.
    services.set_agent_status(staff=staff, status="online")
    factories.order(shop_a, "O-1", "b1", status="shipped")
    buyer = shop_a.buyers.get(platform_id="b1")
    conv, decision = services.request_human(buyer=buyer)
    assert conv.agent_id == staff.pk and decision is not None
    assert decision.rule == "group_by_order_state/idle_ratio"


def test_the_owner_changes_an_agents_routing_on_the_account_form(
    shop_a: Shop, owner_client: Client, teammate: StaffAccount
) -> None:
    group = AgentGroup.objects.create(shop=shop_a, name="售前组")
    services.configure_agent(staff=teammate, group=group, weight=4)
    form = owner_client.get(change_staff(teammate)).context["adminform"].form
    assert [form[name].value() for name in ("agent_group", "agent_weight", "agent_routing")] == [
        group.pk,
        4,
        True,
    ]
    data = {
        "display_name": teammate.display_name,
        "role": "agent",
        "im_enabled": "on",
        "is_active": "on",
        "agent_group": "",
        "agent_weight": 2,
        "agent_offline_routing": "on",
    }
    response = owner_client.post(change_staff(teammate), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    state = AgentState.objects.get(staff=teammate)
    assert (state.group_id, state.weight, state.routing, state.offline_routing) == (None, 2, False, True)


@pytest.mark.parametrize(
    "changes",
    [
        {"agent_group": "foreign"},
        {"agent_group": "9223372036854775808"},
        {"agent_group": "1\x00"},
        {"agent_weight": 0},
        {"agent_weight": 101},
        {"agent_weight": "abc"},
        {"agent_weight": ""},
    ],
)
def test_a_bad_routing_value_refuses_the_whole_new_account(
    shop_a: Shop, shop_b: Shop, owner_client: Client, changes: dict[str, Any]
) -> None:
    foreign = AgentGroup.objects.create(shop=shop_b, name="别家的组")
    if changes.get("agent_group") == "foreign":
        changes = {"agent_group": foreign.pk}
    response = owner_client.post(ADD_STAFF, new_agent(**changes))
    assert response.status_code == 200
    assert set(changes) & set(response.context["adminform"].form.errors)
    assert not StaffAccount.objects.filter(user__username="kefu09").exists()
    assert "别家的组" not in response.text


def test_a_supervisor_sees_an_agents_routing_on_the_account_read_only(
    shop_a: Shop, supervisor: StaffAccount, teammate: StaffAccount
) -> None:
    group = AgentGroup.objects.create(shop=shop_a, name="售前组")
    services.configure_agent(staff=teammate, group=group, weight=4)
    page = login_client(supervisor).get(change_staff(teammate)).text
    assert "售前组" in page and 'name="agent_group"' not in page and 'name="agent_weight"' not in page
    assert login_client(supervisor).post(change_staff(teammate), {"agent_weight": 9}).status_code == 403
    assert AgentState.objects.get(staff=teammate).weight == 4


def test_without_the_routing_right_the_account_form_has_no_routing(
    shop_a: Shop, owner: StaffAccount, teammate: StaffAccount
) -> None:
    """An administrator the routing right was taken from (roles are edited by the platform)."""
    from django.contrib.auth.models import Group, Permission

    admin = factories.staff(shop_a, "admin_a", "管理员", role=Role.ADMIN)
    Group.objects.get(name=Role.ADMIN).permissions.remove(Permission.objects.get(codename="manage_routing"))
    client = login_client(admin)
    assert 'name="agent_group"' not in client.get(change_staff(teammate)).text
    response = client.post(ADD_STAFF, new_agent(login="kefu10", agent_weight=7))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert AgentState.objects.get(staff__user__username="kefu10").weight == 1  # the posted 7 was not read
