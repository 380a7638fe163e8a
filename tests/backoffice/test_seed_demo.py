"""``manage.py seed_demo``: the demo shops, their staff and commerce data, the routing groups, team phrases,
past chats with ratings and local product images, idempotence (a second run adds nothing; a demo of an older
version gets what it lacks) and the DEBUG guard."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Max
from django.utils import timezone

from backoffice.management import demo_chats
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
from phrases.library import TEMPLATES
from phrases.models import Phrase, PhraseGroup
from routing.models import (
    AgentGroup,
    AgentState,
    AgentStatusChange,
    Conversation,
    Message,
    Rating,
    ReplyDelay,
    RoutingDecision,
    Transfer,
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
    for model in (
        *(Shop, StaffAccount, User, Buyer, Product, Order, OrderItem, AddressChange),
        *(AgentGroup, AgentState, Phrase, PhraseGroup, Conversation, Message, ReplyDelay),
        *(RoutingDecision, Transfer, Rating, AgentStatusChange),
    ):
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
    # The role grants both already; the owner granted the right to see full phone numbers (they call back).
    assert [r.codename for r in supervisor.rights.all()] == ["view_full_phone"]
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
        if order.after_sale_status != "none":  # a refund before shipping is seed 002's first after-sale case
            assert shipped or (order.status == "to_ship" and order.after_sale_status == "refund_requested")
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


# --- the shop as a real shop runs it -----------------------------------------------------------------------


@pytest.mark.django_db
def test_seed_sets_up_pre_sale_and_after_sale_groups_with_order_state_scopes(demo_settings: Any) -> None:
    seed()
    shop = main_shop()
    groups = {g.name: g for g in AgentGroup.objects.for_shop(shop)}
    assert sorted(groups) == ["售前组", "售后组"]
    assert groups["售前组"].order_states == ["none", "unpaid", "closed"]
    assert groups["售后组"].order_states == ["to_ship", "shipped", "delivered", "completed"]
    # Every order state has its group, none has two (routing's order-state scope decides alone).
    assert sorted(groups["售前组"].order_states + groups["售后组"].order_states) == sorted(
        [*OrderStatus.values, "none"]
    )
    members = {
        s.staff.user.username: (s.group.name if s.group else None, s.weight, s.routing)
        for s in AgentState.objects.for_shop(shop).select_related("staff__user", "group")
    }
    for agent in DEMO_AGENTS:
        expected = "售前组" if agent["team"] == "pre_sale" else "售后组"
        assert members[agent["login"]][0] == expected
    assert members["agent1"][1] == 2 and members["agent2"][1] == 1  # the senior agent takes more
    assert members["supervisor"] == (None, 1, False)  # pulls from the queue, receives transfers
    assert set(AgentState.objects.for_shop(shop).values_list("status", flat=True)) == {"offline"}


@pytest.mark.django_db
def test_seed_imports_the_template_library_as_team_phrases(demo_settings: Any) -> None:
    seed()
    team = Phrase.objects.filter(shop=main_shop(), owner=None)
    assert team.count() == len(TEMPLATES)
    assert set(team.values_list("template_key", flat=True)) == {t.key for t in TEMPLATES}
    assert PhraseGroup.objects.filter(shop=main_shop(), owner=None).count() == 7


@pytest.mark.django_db
def test_products_show_images_shipped_with_the_project(demo_settings: Any) -> None:
    """Before: every image was an example.com link, a broken image on every product card."""
    seed()
    static_root = Path(__file__).resolve().parents[2] / "backoffice" / "static"
    for product in Product.objects.all():
        assert product.image_url.startswith("/static/backoffice/demo/products/"), product.image_url
        path = static_root / product.image_url.removeprefix("/static/")
        assert path.is_file() and path.stat().st_size < 4000, path
        assert path.read_text().startswith("<svg ")
        assert "example.com" not in product.url


def local(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(settings.TIME_ZONE))


@pytest.mark.django_db
def test_seed_leaves_three_weeks_of_ended_chats_with_ratings(demo_settings: Any) -> None:
    seed()
    shop = main_shop()
    now = timezone.now()
    chats = list(Conversation.objects.for_shop(shop).prefetch_related("messages", "reply_delays"))
    assert len(chats) >= 150
    days = {local(c.created_at).date() for c in chats}
    assert len(days) >= 18 and min(days) <= (local(now) - timedelta(days=20)).date()
    reasons = {c.end_reason for c in chats}
    assert reasons == {"agent", "buyer", "auto"}
    for chat in chats:
        assert chat.state == "ended" and chat.agent_id is not None and chat.group_id is not None
        assert 9 <= local(chat.created_at).hour < 23  # the shop's opening hours, in its time zone
        assert chat.created_at <= chat.assigned_at < chat.ended_at < now  # type: ignore[operator]
        messages = sorted(chat.messages.all(), key=lambda m: m.seq)
        assert [m.seq for m in messages] == list(range(1, chat.last_seq + 1))
        assert {m.sender for m in messages} == {"buyer", "agent"}
        times = [m.created_at for m in messages]
        assert times == sorted(times) and chat.created_at <= times[0] and times[-1] < chat.ended_at  # type: ignore[operator]
        assert all(m.shop_id == shop.pk and (m.agent_id is None) == (m.sender == "buyer") for m in messages)
        delays = sorted(chat.reply_delays.all(), key=lambda d: d.replied_at)
        assert delays and delays[0].is_first and chat.first_response_seconds == delays[0].seconds
        assert all(d.seconds == (d.replied_at - d.waited_from).total_seconds() >= 0 for d in delays)
        assert messages[-1].sender == "agent"  # answered: no unread badge on the history's rows
        if chat.end_reason == "auto":  # 15 minutes after the agent's last message
            assert chat.ended_at - messages[-1].created_at == timedelta(minutes=15)  # type: ignore[operator]

    ratings = Rating.objects.for_shop(shop).select_related("conversation")
    assert 0.4 < ratings.count() / len(chats) < 0.8
    assert {r.stars for r in ratings} == {1, 2, 3, 4, 5}
    for rating in ratings:
        assert rating.agent_id == rating.conversation.agent_id
        assert rating.conversation.ended_at < rating.updated_at <= now  # type: ignore[operator]


@pytest.mark.django_db
def test_agents_shifts_are_recorded_and_everyone_is_offline_now(demo_settings: Any) -> None:
    seed()
    shop = main_shop()
    for staff in StaffAccount.objects.for_shop(shop).filter(
        user__username__in=[a["login"] for a in DEMO_AGENTS]
    ):
        changes = list(
            AgentStatusChange.objects.filter(staff=staff).order_by("at").values_list("status", "at")
        )
        assert len(changes) >= 40  # two a day for three weeks
        assert [s for s, _at in changes] == ["online", "offline"] * (len(changes) // 2)
        assert changes[-1][1] < timezone.now()
        assert AgentState.objects.get(staff=staff).status == "offline"  # as the last change says
        chats = Conversation.objects.filter(agent=staff).order_by("assigned_at")
        online = [at for s, at in changes if s == "online"]
        offline = [at for s, at in changes if s == "offline"]
        for chat in chats.filter(transfers__isnull=True):  # each assigned while its agent was online
            assert any(on <= chat.assigned_at < off for on, off in zip(online, offline, strict=True))  # type: ignore[operator]


@pytest.mark.django_db
def test_some_seeded_chats_were_transferred(demo_settings: Any) -> None:
    seed()
    transfers = Transfer.objects.for_shop(main_shop()).select_related("conversation")
    assert transfers.count() >= 5
    for transfer in transfers:
        conv = transfer.conversation
        assert transfer.note and conv.agent_id == transfer.to_agent_id != transfer.from_agent_id
        senders = list(
            conv.messages.filter(sender="agent").order_by("seq").values_list("agent_id", flat=True)
        )
        assert senders[0] == transfer.from_agent_id and senders[-1] == transfer.to_agent_id
        assert conv.routing_decisions.filter(rule="transfer", winner_id=transfer.to_agent_id).exists()


@pytest.mark.django_db
def test_the_workbench_history_shows_the_seeded_chats_of_the_last_72_hours(demo_settings: Any) -> None:
    from routing.selectors import history_sessions

    seed()
    shop = main_shop()
    agent = StaffAccount.objects.get(shop=shop, user__username="agent4")
    recent = Conversation.objects.filter(agent=agent, ended_at__gte=timezone.now() - timedelta(hours=72))
    assert recent.exists()
    assert {c.pk for c in history_sessions(agent)} == set(recent.values_list("pk", flat=True))


@pytest.mark.django_db
def test_the_past_chats_are_written_in_bulk(demo_settings: Any, django_assert_max_num_queries: Any) -> None:
    """A few queries per model, not per chat (the seed stays fast: about 36 for some 220 chats)."""
    seed()
    shop = main_shop()
    Conversation.objects.for_shop(shop).delete()
    AgentStatusChange.objects.for_shop(shop).delete()
    staff = {s.user.username: s for s in StaffAccount.objects.for_shop(shop).select_related("user", "shop")}
    teams = {
        t: [staff[a["login"]] for a in DEMO_AGENTS if a["team"] == t] for t in ("pre_sale", "after_sale")
    }
    groups = {t: AgentGroup.objects.get(shop=shop, name=demo_chats.GROUPS[t][0]) for t in teams}
    with django_assert_max_num_queries(45):  # inserts and updates in batches of 500 rows
        count = demo_chats.build_history(
            owner=staff["owner"], groups=groups, teams=teams, supervisor=staff["supervisor"],
            now=timezone.now(), seed=1,
        )  # fmt: skip  # keyword arguments of one call, kept together
    assert count >= 150


@pytest.mark.django_db
def test_a_demo_of_an_older_version_gets_what_it_lacks(demo_settings: Any) -> None:
    """A database seeded before the groups, phrases, history and images (``make run`` keeps var/db.sqlite3)
    is completed by the next run; a complete one gets nothing (``test_second_run_changes_nothing``)."""
    seed()
    shop = main_shop()
    Conversation.objects.all().delete()
    AgentStatusChange.objects.all().delete()
    AgentGroup.objects.all().delete()
    Phrase.objects.all().delete()
    Product.objects.update(image_url="https://example.com/images/products/x.jpg")
    Shop.objects.update(is_demo=False)

    out = seed()

    assert "already seeded" not in out and "past chats" in out
    assert AgentGroup.objects.for_shop(shop).count() == 2
    assert Phrase.objects.filter(shop=shop, owner=None).count() == len(TEMPLATES)
    assert Conversation.objects.for_shop(shop).count() >= 150
    assert not Product.objects.filter(image_url__contains="example.com").exists()
    assert Shop.objects.filter(is_demo=True).count() == 2


@pytest.mark.django_db
def test_the_demo_shops_buyer_picker_needs_no_sign_in(demo_settings: Any, client: Any) -> None:
    seed()
    demo_settings.DEMO_BUYER_PICKER = True
    response = client.get(f"/chat/{main_shop().pk}/demo/")
    assert response.status_code == 200 and "token=" in response.content.decode()


@pytest.mark.django_db
def test_the_second_demo_shop_shows_the_faq_and_the_main_one_its_robot(
    demo_settings: Any, client: Any
) -> None:
    """The main demo shop has the robot on, whose opening replaces the FAQ (the rule); the second demo shop
    has the robot off, so a buyer there sees the FAQ."""
    from robot.switch import full_auto_on
    from routing.tokens import buyer_token

    seed()
    main = main_shop()
    second = Shop.objects.get(name=SECOND_SHOP["name"])
    assert full_auto_on(main.pk) and not full_auto_on(second.pk)
    for shop, shows_faq in ((main, False), (second, True)):
        buyer = Buyer.objects.for_shop(shop).order_by("pk").first()
        assert buyer is not None
        response = client.get(f"/chat/{shop.pk}/self-service/?token={buyer_token(buyer)}")
        assert response.status_code == 200
        faq = response.json()["faq"]
        assert bool(faq) is shows_faq
        if shows_faq:
            assert second.name in faq["opening"] and len(faq["questions"]) == 5
