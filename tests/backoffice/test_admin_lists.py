"""Every admin list page costs the same number of queries with 2 rows as with 8 (counts are annotated,
relations selected: nothing runs per row), and at most the pinned number."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backoffice import services as shop_services
from backoffice.models import Shop, StaffAccount
from phrases import services as phrase_services
from routing import config
from routing import services as routing_services
from routing.models import AgentGroup
from tests.backoffice import factories

# changelist -> the most queries it may cost (session, user, staff account, rights, counts, the page)
PAGES = {
    "backoffice_staffaccount": 10,
    "backoffice_buyer": 10,
    "backoffice_product": 11,  # + the category filter's choices
    "backoffice_order": 13,  # + the date hierarchy, + one INSERT recording the full numbers shown
    "backoffice_contactview": 12,  # + the date hierarchy and the place filter
    "backoffice_apikey": 10,
    "routing_agentgroup": 10,
    "routing_agentstate": 11,  # + the group filter's choices
    # routing_routingsettings has no list: it opens the shop's one settings form (tests/routing/test_admin.py)
    "phrases_phrase": 11,  # + the group filter's choices
    "phrases_phrasegroup": 10,
}


def add_rows(shop: Shop, owner: StaffAccount, start: int, count: int) -> None:
    """``count`` more rows of every listed model."""
    for i in range(start, start + count):
        agent = factories.staff(shop, f"list{i}", f"客服{i}")
        group = config.save_group(actor=owner, group=AgentGroup(name=f"组{i}"))
        routing_services.configure_agent(staff=agent, group=group)
        order = factories.order(shop, f"O{i}", f"b{i}")
        shop_services.record_contact_views(user=owner.user, staff=owner, orders=[order], place="admin_form")
        factories.product(shop, f"p{i}", f"商品{i}")
        shop_services.create_api_key(shop=shop, name=f"key{i}", created_by=owner.user)
        phrase_group = phrase_services.create_group(actor=owner, scope="team", name=f"分组{i}")
        phrase_services.create_phrase(actor=owner, scope="team", content=f"话术{i}", group=phrase_group)
    routing_services.routing_settings(shop)


def queries(client: Client, page: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse(f"admin:{page}_changelist"))
    assert response.status_code == 200, page
    return len(captured)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_list_pages_cost_the_same_queries_whatever_their_length(
    page: str, shop_a: Shop, owner: StaffAccount, owner_client: Client, settings: Any
) -> None:
    add_rows(shop_a, owner, 0, 2)
    few = queries(owner_client, page)
    add_rows(shop_a, owner, 2, 6)
    many = queries(owner_client, page)
    assert many == few, f"{page}: {few} queries with 2 rows, {many} with 8"
    assert many <= PAGES[page], f"{page}: {many} queries (pinned at {PAGES[page]})"
