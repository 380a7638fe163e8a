"""Fixtures for quick phrases: on top of the standing owner / teammate (agent) / outsider (owner of shop B),
a second agent of shop A and a CS supervisor (whose role holds the team-phrase right)."""

from __future__ import annotations

from typing import Any

import pytest

from backoffice import services as shop_services
from backoffice.models import Role, Shop, StaffAccount
from phrases import services
from phrases.models import Phrase
from tests.conftest import PASSWORD


def staff(shop: Shop, login: str, name: str, role: str = Role.AGENT) -> StaffAccount:
    return shop_services.create_staff_account(
        shop=shop, login=login, password=PASSWORD, display_name=name, role=role, im_enabled=True
    )


@pytest.fixture
def colleague(shop_a: Shop) -> StaffAccount:
    """Another agent of shop A."""
    return staff(shop_a, "agent_a2", "售后-小林")


@pytest.fixture
def supervisor(shop_a: Shop) -> StaffAccount:
    return staff(shop_a, "sup_a", "主管-老周", role=Role.CS_SUPERVISOR)


def team_phrase(owner: StaffAccount, content: str = "亲，今天下单今天发货哦", **kw: Any) -> Phrase:
    return services.create_phrase(actor=owner, scope="team", content=content, **kw)


def personal_phrase(agent: StaffAccount, content: str = "亲，我是小美，很高兴为您服务", **kw: Any) -> Phrase:
    return services.create_phrase(actor=agent, scope="personal", content=content, **kw)
