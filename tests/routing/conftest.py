from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection

from backoffice import services as shop_services
from backoffice.models import Shop, StaffAccount
from routing import services
from routing.models import AgentGroup
from routing.services import messages
from tests.conftest import PASSWORD

_counter = {"n": 0}


@pytest.fixture(params=sorted(messages.BUYER_STORES))
def buyer_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A test of buyer-message rules runs once per storage strategy (``messages.BUYER_STORES``): one set of
    rules, two ways of storing them. PostgreSQL's statement needs PostgreSQL."""
    name = str(request.param)
    if name == "postgresql" and connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL storage strategy needs PostgreSQL (DATABASE_URL=postgres://...)")
    monkeypatch.setattr(messages, "buyer_store", lambda: name)
    return name


@pytest.fixture
def make_agent(shop_a: Shop) -> Callable[..., StaffAccount]:
    def build(
        name: str,
        max_concurrent: int = 5,
        status: str = "online",
        group: AgentGroup | None = None,
        weight: int = 1,
        routing: bool = True,
        shop: Shop | None = None,
        offline_routing: bool = False,
    ) -> StaffAccount:
        _counter["n"] += 1
        staff = shop_services.create_staff_account(
            shop=shop or shop_a,
            login=f"agent{_counter['n']}_{name}",
            password=PASSWORD,
            display_name=name,
            role="agent",
            im_enabled=True,
        )
        StaffAccount.objects.filter(pk=staff.pk).update(max_concurrent=max_concurrent)
        staff.refresh_from_db()
        services.configure_agent(
            staff=staff, group=group, weight=weight, routing=routing, offline_routing=offline_routing
        )
        services.set_agent_status(staff=staff, status=status)
        return staff

    return build
