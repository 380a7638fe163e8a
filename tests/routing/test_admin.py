"""Routing configuration in admin: groups with their scope, agents' routing, shop settings. Scoped to the
shop, for accounts with the routing right only, written through routing.config."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from backoffice.models import Shop, StaffAccount
from routing import services
from routing.models import AgentGroup, AgentState, RoutingSettings
from tests.backoffice import factories
from tests.conftest import login_client

pytestmark = pytest.mark.usefixtures("owner_offline")


def group_form(**changes: Any) -> dict[str, Any]:
    return {"name": "售后组", "crowd": "{}", "intents": "[]", "products": [], **changes}


def test_owner_creates_a_scoped_group_that_routing_then_uses(
    shop_a: Shop, owner_client: Client, make_agent: Any
) -> None:
    product = factories.product(shop_a, "p1", "实木餐桌")
    response = owner_client.post(
        reverse("admin:routing_agentgroup_add"),
        group_form(products=[product.pk], order_states=["none"], intents='["退款"]'),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    group = AgentGroup.objects.get(shop=shop_a)
    assert (list(group.products.all()), group.intents, group.order_states) == ([product], ["退款"], ["none"])
    member = make_agent("售后-阿强", group=group)
    make_agent("不在组里")
    buyer = factories.buyer(shop_a, "b1", "买家")
    conv, _decision = services.request_human(buyer=buyer, source_product=product)
    assert conv.agent_id == member.pk


def test_bad_scope_is_a_form_error_and_writes_nothing(shop_a: Shop, owner_client: Client) -> None:
    response = owner_client.post(reverse("admin:routing_agentgroup_add"), group_form(crowd='["not a map"]'))
    assert response.status_code == 200
    assert "金卡" in str(response.context["adminform"].form.non_field_errors())  # the example in the message
    assert not AgentGroup.objects.exists()


def test_another_shops_product_cannot_be_put_in_scope(
    shop_a: Shop, shop_b: Shop, owner_client: Client
) -> None:
    foreign = factories.product(shop_b, "p9", "别家商品")
    response = owner_client.post(reverse("admin:routing_agentgroup_add"), group_form(products=[foreign.pk]))
    assert response.status_code == 200  # not a choice in this shop
    assert not AgentGroup.objects.exists()


def test_another_shops_group_is_404_and_agents_get_403(
    shop_a: Shop, shop_b: Shop, owner_client: Client, teammate_client: Client
) -> None:
    foreign = AgentGroup.objects.create(shop=shop_b, name="别家")
    assert owner_client.get(reverse("admin:routing_agentgroup_change", args=[foreign.pk])).status_code == 404
    assert teammate_client.get(reverse("admin:routing_agentgroup_changelist")).status_code == 403
    assert teammate_client.get(reverse("admin:routing_agentstate_changelist")).status_code == 403


def test_supervisor_sets_weight_non_routing_and_offline_list(
    shop_a: Shop, make_agent: Any, supervisor: StaffAccount
) -> None:
    agent = make_agent("小美")
    state = AgentState.objects.get(staff=agent)
    url = reverse("admin:routing_agentstate_change", args=[state.pk])
    response = login_client(supervisor).post(url, {"weight": 3, "routing": "", "offline_routing": "on"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    state.refresh_from_db()
    assert (state.weight, state.routing, state.offline_routing) == (3, False, True)
    bad = login_client(supervisor).post(url, {"weight": 0, "routing": "on"})
    assert bad.status_code == 200
    state.refresh_from_db()
    assert state.weight == 3


def test_only_the_owner_changes_the_queue_order_in_admin(
    shop_a: Shop, owner: StaffAccount, supervisor: StaffAccount
) -> None:
    settings = services.routing_settings(shop_a)
    url = reverse("admin:routing_routingsettings_change", args=[settings.pk])
    form = {
        "queue_order": "lifo",
        "offline_mode": "queue",
        "owner_routes_in_simple_mode": "on",
        "pool_holder": "",
    }
    refused = login_client(supervisor).post(url, form)
    assert refused.status_code == 200
    assert "主账号" in str(refused.context["adminform"].form.non_field_errors())  # zh-hans: only the owner
    assert RoutingSettings.objects.get(pk=settings.pk).queue_order == "fifo"
    assert login_client(owner).post(url, form).status_code == 302
    assert RoutingSettings.objects.get(pk=settings.pk).queue_order == "lifo"


def test_deleting_groups_keeps_members_and_returns_to_simple_mode(
    shop_a: Shop, owner_client: Client, make_agent: Any
) -> None:
    group = AgentGroup.objects.create(shop=shop_a, name="售前")
    member = make_agent("小美", group=group)
    response = owner_client.post(
        reverse("admin:routing_agentgroup_changelist"),
        {"action": "delete_groups", "_selected_action": [group.pk]},
    )
    assert response.status_code == 302
    assert not AgentGroup.objects.exists()
    assert AgentState.objects.get(staff=member).group_id is None
    conv, decision = services.request_human(buyer=factories.buyer(shop_a, "b", "买家"))
    assert conv.agent_id == member.pk and decision is not None and decision.rule.startswith("simple_mode")
