"""Shared set-up of the fault suite: agents with reception limits and buyers, all committed (the servers are
other processes)."""

from __future__ import annotations

from backoffice import services as shop_services
from backoffice.models import Buyer, Role, Shop, StaffAccount
from routing import services
from tests.conftest import PASSWORD


def make_agents(
    shop: Shop, owner: StaffAccount, n: int, limit: int, login: str = "fault"
) -> list[StaffAccount]:
    """``n`` online agents with reception limit ``limit``; the owner is set offline (not a seat)."""
    services.set_agent_status(staff=owner, status="offline")
    agents = []
    for i in range(n):
        staff = shop_services.create_staff_account(
            shop=shop,
            login=f"{login}{i}",
            password=PASSWORD,
            display_name=f"客服{i}",
            role=Role.AGENT,
            im_enabled=True,
        )
        StaffAccount.objects.filter(pk=staff.pk).update(max_concurrent=limit)
        staff.max_concurrent = limit
        services.set_agent_status(staff=staff, status="online")
        agents.append(staff)
    return agents


def make_buyers(shop: Shop, n: int, tag: str = "fb") -> list[Buyer]:
    records = [{"platform_id": f"{tag}{i}", "nickname": f"买家{i}"} for i in range(n)]
    shop_services.upsert_buyers(shop=shop, records=records)
    return list(Buyer.objects.filter(shop=shop, platform_id__startswith=tag).order_by("pk"))
