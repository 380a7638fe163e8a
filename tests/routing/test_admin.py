"""Routing configuration in admin: groups with their scope (edited by widgets), agents' routing (on the staff
account form too), shop settings (one page). Scoped to the shop, for accounts with the routing right only,
written through routing.config."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from backoffice.models import Shop, StaffAccount
from routing import config, services
from routing.admin import tag_choice
from routing.intents import Intent
from routing.models import AgentGroup, AgentState, RoutingSettings
from tests.backoffice import factories
from tests.conftest import login_client

pytestmark = pytest.mark.usefixtures("owner_offline")

ADD_GROUP = reverse("admin:routing_agentgroup_add")
GOLD = tag_choice("member_level", "金卡会员")


def group_form(**changes: Any) -> dict[str, Any]:
    return {"name": "售后组", "products": [], **changes}


def form_errors(response: Any) -> str:
    assert response.status_code == 200, response
    form = response.context["adminform"].form
    return str(form.errors)


# --- group scopes by widgets --------------------------------------------------------------------------------


def test_owner_creates_a_scoped_group_that_routing_then_uses(
    shop_a: Shop, owner_client: Client, make_agent: Any
) -> None:
    product = factories.product(shop_a, "p1", "实木餐桌")
    response = owner_client.post(
        ADD_GROUP, group_form(products=[product.pk], order_states=["none"], intents=["refund"])
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    group = AgentGroup.objects.get(shop=shop_a)
    assert (list(group.products.all()), group.intents, group.order_states) == (
        [product],
        ["refund"],
        ["none"],
    )
    member = make_agent("售后-阿强", group=group)
    make_agent("不在组里")
    buyer = factories.buyer(shop_a, "b1", "买家")
    conv, _decision = services.request_human(buyer=buyer, source_product=product)
    assert conv.agent_id == member.pk


def test_the_crowd_scope_offers_the_tags_of_this_shops_buyers_only(
    shop_a: Shop, shop_b: Shop, owner_client: Client
) -> None:
    factories.buyer(shop_a, "b1", "甲", tags={"member_level": "金卡会员", "region": "浙江"})
    factories.buyer(shop_a, "b2", "乙", tags={"member_level": "银卡会员"})
    factories.buyer(shop_b, "b9", "别家", tags={"member_level": "别家钻石"})
    page = owner_client.get(ADD_GROUP).text
    for offered in ("金卡会员", "银卡会员", "浙江", "会员等级", "地区"):  # the values, and the tags' labels
        assert offered in page
    assert "别家钻石" not in page
    assert 'type="checkbox" name="crowd"' in page


def test_ticked_tag_values_become_the_crowd_scope_that_routing_uses(
    shop_a: Shop, owner_client: Client, make_agent: Any
) -> None:
    gold = factories.buyer(shop_a, "b1", "金卡买家", tags={"member_level": "金卡会员", "region": "浙江"})
    factories.buyer(shop_a, "b2", "钻石买家", tags={"member_level": "钻石会员", "region": "上海"})
    factories.buyer(shop_a, "b3", "银卡买家", tags={"member_level": "银卡会员", "region": "浙江"})
    diamond = tag_choice("member_level", "钻石会员")
    response = owner_client.post(ADD_GROUP, group_form(name="会员组", crowd=[GOLD, diamond]))
    assert response.status_code == 302, response.context["adminform"].form.errors
    group = AgentGroup.objects.get(shop=shop_a)
    assert group.crowd == {"member_level": ["金卡会员", "钻石会员"]}
    vip = make_agent("会员专席", group=group)
    make_agent("普通客服", group=AgentGroup.objects.create(shop=shop_a, name="普通组"))
    assert services.request_human(buyer=gold)[0].agent_id == vip.pk
    silver = factories.buyer(shop_a, "b3", "银卡买家")
    assert services.request_human(buyer=silver)[0].agent_id != vip.pk


@pytest.mark.parametrize(
    "value",
    [
        "金卡会员",  # no tag named: the old JSON textarea's mistake
        '{"member_level": "金卡会员"}',
        tag_choice("member_level", "别家钻石"),  # another shop's buyers' tag
        tag_choice("member_level", "金卡\x00会员"),
        "\x00",
    ],
)
def test_a_tag_value_not_offered_is_a_form_error_and_writes_nothing(
    shop_a: Shop, shop_b: Shop, owner_client: Client, value: str
) -> None:
    factories.buyer(shop_a, "b1", "甲", tags={"member_level": "金卡会员"})
    factories.buyer(shop_b, "b9", "别家", tags={"member_level": "别家钻石"})
    response = owner_client.post(ADD_GROUP, group_form(crowd=[GOLD, value]))
    assert "不是本店买家的标签值" in form_errors(response)
    assert not AgentGroup.objects.exists()


def test_a_stored_scope_shows_ticked_and_saves_unchanged(shop_a: Shop, owner_client: Client) -> None:
    """Scopes stored as JSON before the widgets (a value no buyer carries yet included) load in the widgets
    and save back as they were."""
    factories.buyer(shop_a, "b1", "甲", tags={"member_level": "金卡会员"})
    product = factories.product(shop_a, "p1", "实木餐桌")
    group = AgentGroup.objects.create(
        shop=shop_a,
        name="老组",
        crowd={"member_level": ["金卡会员", "黑卡会员"], "region": ["浙江"]},
        intents=["urge_shipping", "logistics"],
        order_states=["shipped", "none"],
    )
    group.products.add(product)
    url = reverse("admin:routing_agentgroup_change", args=[group.pk])
    form = owner_client.get(url).context["adminform"].form
    initial = {name: form[name].value() for name in ("name", "crowd", "products", "intents", "order_states")}
    black, zhejiang = tag_choice("member_level", "黑卡会员"), tag_choice("region", "浙江")
    assert sorted(initial["crowd"]) == sorted([GOLD, black, zhejiang])
    assert (initial["intents"], initial["order_states"]) == (
        ["urge_shipping", "logistics"],
        ["shipped", "none"],
    )
    page = owner_client.get(url).text
    assert page.count("checked") >= 7  # 3 tag values, 2 intents, 2 order states
    response = owner_client.post(url, initial)
    assert response.status_code == 302, response.context["adminform"].form.errors
    saved = AgentGroup.objects.get(pk=group.pk)
    assert saved.crowd == {"member_level": ["金卡会员", "黑卡会员"], "region": ["浙江"]}
    assert (saved.intents, saved.order_states, list(saved.products.all())) == (
        ["urge_shipping", "logistics"],
        ["shipped", "none"],
        [product],
    )


def test_the_intent_scope_offers_the_built_in_intents(owner_client: Client) -> None:
    page = owner_client.get(ADD_GROUP).text
    for code, label in [("urge_shipping", "催发货"), ("ask_human", "转人工"), ("size_spec", "尺码/规格")]:
        assert f'value="{code}"' in page and label in page
    assert page.count('name="intents"') == len(Intent.values)


@pytest.mark.parametrize("value", ["退款", "robot_magic", "refund\x00"])
def test_an_unknown_intent_is_a_form_error_and_writes_nothing(
    shop_a: Shop, owner_client: Client, value: str
) -> None:
    response = owner_client.post(ADD_GROUP, group_form(intents=["refund", value]))
    assert "intents" in response.context["adminform"].form.errors
    assert not AgentGroup.objects.exists()


def test_a_stored_unknown_intent_is_shown_and_must_be_unticked(shop_a: Shop, owner_client: Client) -> None:
    group = AgentGroup.objects.create(shop=shop_a, name="旧组", intents=["退货吗"])
    url = reverse("admin:routing_agentgroup_change", args=[group.pk])
    assert "退货吗" in owner_client.get(url).text
    refused = owner_client.post(url, group_form(name="旧组", intents=["退货吗", "refund"]))
    assert "退货吗" in str(refused.context["adminform"].form.non_field_errors())
    assert AgentGroup.objects.get(pk=group.pk).intents == ["退货吗"]
    assert owner_client.post(url, group_form(name="旧组", intents=["refund"])).status_code == 302
    assert AgentGroup.objects.get(pk=group.pk).intents == ["refund"]


def test_the_service_refuses_an_unknown_intent(owner: StaffAccount) -> None:
    from backoffice.errors import Invalid

    with pytest.raises(Invalid):
        config.save_group(actor=owner, group=AgentGroup(name="组", intents=["退款"]))
    with pytest.raises(Invalid):
        config.save_group(actor=owner, group=AgentGroup(name="组", crowd={"level\x00": ["金卡"]}))
    assert not AgentGroup.objects.exists()


@pytest.mark.parametrize("value", ["refunded", "none\x00", "SHIPPED"])
def test_an_unknown_order_state_is_a_form_error(shop_a: Shop, owner_client: Client, value: str) -> None:
    response = owner_client.post(ADD_GROUP, group_form(order_states=["shipped", value]))
    assert "order_states" in response.context["adminform"].form.errors
    assert not AgentGroup.objects.exists()


def test_the_order_state_scope_is_checkboxes(owner_client: Client) -> None:
    page = owner_client.get(ADD_GROUP).text
    assert page.count('type="checkbox" name="order_states"') == 7  # no order + the six statuses
    assert "已发货" in page


def test_the_product_scope_offers_this_shops_products_only(
    shop_a: Shop, shop_b: Shop, owner_client: Client
) -> None:
    factories.product(shop_a, "p1", "实木餐桌")
    factories.product(shop_b, "p9", "别家商品")
    page = owner_client.get(ADD_GROUP).text
    assert "实木餐桌" in page and "别家商品" not in page
    assert '<select name="products"' in page and "multiple" in page  # works without JavaScript


@pytest.mark.parametrize("value", ["foreign", "9223372036854775808", "1\x00", "abc"])
def test_another_shops_or_a_malformed_product_is_a_form_error(
    shop_a: Shop, shop_b: Shop, owner_client: Client, value: str
) -> None:
    foreign = factories.product(shop_b, "p9", "别家商品")
    posted = str(foreign.pk) if value == "foreign" else value
    response = owner_client.post(ADD_GROUP, group_form(products=[posted]))
    assert "products" in response.context["adminform"].form.errors
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


def test_the_settings_exist_from_the_shops_creation(shop_a: Shop, shop_b: Shop) -> None:
    assert RoutingSettings.objects.filter(shop__in=[shop_a, shop_b]).count() == 2


def test_the_settings_list_opens_the_shops_one_settings_form(
    shop_a: Shop, owner_client: Client, supervisor: StaffAccount
) -> None:
    settings = RoutingSettings.objects.get(shop=shop_a)
    change = reverse("admin:routing_routingsettings_change", args=[settings.pk])
    for client in (owner_client, login_client(supervisor)):
        response = client.get(reverse("admin:routing_routingsettings_changelist"))
        assert (response.status_code, response["Location"]) == (302, change)
    assert owner_client.get(reverse("admin:routing_routingsettings_add")).status_code == 403
    assert (
        owner_client.get(reverse("admin:routing_routingsettings_delete", args=[settings.pk])).status_code
        == 403
    )
    page = owner_client.get(change).text
    assert 'class="deletelink"' not in page and "/admin/routing/routingsettings/add/" not in page


def settings_form(**changes: Any) -> dict[str, Any]:
    form = {
        "queue_order": "lifo",
        "offline_mode": "queue",
        "owner_routes_in_simple_mode": "on",
        "pool_holder": "",
    }
    return {**form, **changes}


def test_the_queue_order_is_read_only_to_anyone_but_the_owner(
    shop_a: Shop, owner: StaffAccount, supervisor: StaffAccount
) -> None:
    settings = RoutingSettings.objects.get(shop=shop_a)
    url = reverse("admin:routing_routingsettings_change", args=[settings.pk])
    assert 'name="queue_order"' in login_client(owner).get(url).text
    page = login_client(supervisor).get(url).text
    assert 'name="queue_order"' not in page and "先排队先接待" in page  # shown, as text
    assert page.index("先排队先接待") < page.index('name="no_queue"')  # in its place, first
    # A queue order posted anyway is not read; the supervisor's other changes are saved.
    response = login_client(supervisor).post(url, settings_form(no_queue="on"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    saved = RoutingSettings.objects.get(pk=settings.pk)
    assert (saved.queue_order, saved.no_queue) == ("fifo", True)
    assert login_client(owner).post(url, settings_form()).status_code == 302
    assert RoutingSettings.objects.get(pk=settings.pk).queue_order == "lifo"


def test_one_rule_says_who_sets_the_queue_order(
    owner: StaffAccount, supervisor: StaffAccount, shop_a: Shop
) -> None:
    from backoffice.errors import Forbidden

    assert config.may_change_queue_order(owner) and not config.may_change_queue_order(supervisor)
    with pytest.raises(Forbidden):
        config.update_routing_settings(actor=supervisor, queue_order="lifo")
    assert config.update_routing_settings(actor=supervisor, queue_order="fifo").queue_order == "fifo"


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
