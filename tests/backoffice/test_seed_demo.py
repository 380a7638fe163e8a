"""``manage.py seed_demo``: the demo shops, their staff and commerce data, idempotence and the DEBUG guard."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Max
from django.utils import timezone

from backoffice.management.commands.seed_demo import DEMO_AGENTS, DEMO_PASSWORD, MAIN_SHOP, SECOND_SHOP
from backoffice.models import (
    AddressChange,
    Buyer,
    Order,
    OrderItem,
    OrderStatus,
    Product,
    Role,
    Shop,
    StaffAccount,
)

User = get_user_model()


@pytest.fixture
def demo_settings(settings: Any) -> Any:
    """pytest-django runs tests with DEBUG off; the command needs it on. A fast hasher for speed."""
    settings.DEBUG = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings


def seed(**options: Any) -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def main_shop() -> Shop:
    return Shop.objects.get(name=MAIN_SHOP["name"])


def snapshot() -> dict[str, Any]:
    """Counts, highest ids and latest updates of everything the command writes."""
    state: dict[str, Any] = {}
    for model in (Shop, StaffAccount, User, Buyer, Product, Order, OrderItem, AddressChange):
        state[model.__name__] = (model.objects.count(), model.objects.aggregate(last=Max("pk"))["last"])
    for model in (Buyer, Product, Order):
        state[f"{model.__name__}.updated_at"] = model.objects.aggregate(last=Max("updated_at"))["last"]
    state["passwords"] = sorted(User.objects.values_list("username", "password"))
    return state


@pytest.mark.django_db
def test_seed_builds_the_main_shop(demo_settings: Any) -> None:
    out = seed()

    shop = main_shop()
    staff = StaffAccount.objects.for_shop(shop)
    assert staff.filter(role=Role.OWNER).count() == 1
    assert staff.filter(role=Role.CS_SUPERVISOR).count() == 1
    assert staff.filter(role=Role.AGENT).count() == 6
    assert not staff.filter(im_enabled=False).exists()
    owner = staff.get(role=Role.OWNER)
    assert (owner.user.username, owner.display_name) == ("owner", "林晓鹿")
    supervisor = staff.get(role=Role.CS_SUPERVISOR)
    assert supervisor.user.username == "supervisor"
    assert {"backoffice.view_reports", "backoffice.manage_routing"} <= supervisor.permission_names()
    assert not supervisor.rights.exists()  # the role already grants both rights
    agents = dict(staff.filter(role=Role.AGENT).values_list("user__username", "display_name"))
    assert agents == {a["login"]: a["display_name"] for a in DEMO_AGENTS}
    assert [a["team"] for a in DEMO_AGENTS] == ["pre_sale"] * 3 + ["after_sale"] * 3

    assert Buyer.objects.for_shop(shop).count() == 200
    assert Product.objects.for_shop(shop).count() == 50
    orders = Order.objects.for_shop(shop)
    assert orders.count() == 500
    assert set(orders.values_list("status", flat=True)) == set(OrderStatus.values)
    assert AddressChange.objects.for_shop(shop).exists()
    assert orders.exclude(after_sale_status="none").exists()

    for login in ["owner", "supervisor", *agents, "owner2"]:
        assert User.objects.get(username=login).check_password(DEMO_PASSWORD)
    assert "agent6" in out and "shopdesk-demo" in out


@pytest.mark.django_db
def test_seeded_orders_are_consistent(demo_settings: Any) -> None:
    seed()
    shop = main_shop()
    now = timezone.now()
    for order in Order.objects.for_shop(shop).prefetch_related("items"):
        items = list(order.items.all())
        assert 1 <= len(items) <= 3
        assert all(i.product_id is not None for i in items)
        subtotal = sum(i.unit_price * i.quantity for i in items)
        assert order.total_amount == subtotal + order.freight_amount - order.discount_amount
        assert order.paid_amount == (order.total_amount if order.paid_at else 0)
        events = [order.created_at, order.paid_at, order.shipped_at, order.picked_up_at, order.delivered_at]
        happened = [t for t in events if t is not None]
        assert happened == sorted(happened)
        assert now - timedelta(days=61) < order.created_at and happened[-1] <= now
        if order.paid_at:
            assert order.ship_by == order.paid_at + timedelta(hours=48)
        shipped = order.status in ("shipped", "delivered", "completed")
        assert (order.shipped_at is not None) == shipped == bool(order.carrier and order.tracking_number)
        assert (order.delivered_at is not None) == (order.status in ("delivered", "completed"))
        assert (order.paid_at is not None) == (order.status not in ("unpaid", "closed"))
        if order.after_sale_status != "none":
            assert shipped
    for buyer in Buyer.objects.for_shop(shop):
        first = buyer.orders.filter(paid_at__isnull=False).order_by("paid_at").first()
        assert buyer.first_paid_at == (first.paid_at if first else None)
        assert buyer.tags["member_level"] in {"普通会员", "银卡会员", "金卡会员", "钻石会员"}


@pytest.mark.django_db
def test_agent1_works_in_both_shops(demo_settings: Any) -> None:
    seed()

    second = Shop.objects.get(name=SECOND_SHOP["name"])
    assert second.manager_name == "王鸣"
    assert StaffAccount.objects.get(shop=second, role=Role.OWNER).user.username == "owner2"
    accounts = StaffAccount.objects.filter(user__username="agent1")
    assert {a.shop.name for a in accounts} == {MAIN_SHOP["name"], SECOND_SHOP["name"]}
    assert all(a.role == Role.AGENT and a.im_enabled for a in accounts)
    assert User.objects.filter(username="agent1").count() == 1
    assert Product.objects.for_shop(second).count() == 10
    assert Buyer.objects.for_shop(second).count() == 20
    assert Order.objects.for_shop(second).count() == 30


@pytest.mark.django_db
def test_second_run_changes_nothing(demo_settings: Any) -> None:
    seed()
    before = snapshot()

    out = seed()

    assert "already seeded" in out
    assert snapshot() == before
    assert Shop.objects.count() == 2


@pytest.mark.django_db
def test_refuses_without_debug_unless_forced(settings: Any) -> None:
    settings.DEBUG = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

    with pytest.raises(CommandError, match="--force"):
        seed()
    assert not Shop.objects.exists()
    assert not User.objects.exists()

    seed(force=True)
    assert main_shop().orders.count() == 500


@pytest.mark.django_db
def test_refuses_to_adopt_an_existing_login(demo_settings: Any) -> None:
    User.objects.create_user(username="agent3", password="somebody-else")

    with pytest.raises(CommandError, match="agent3"):
        seed()
    assert not Shop.objects.exists()
