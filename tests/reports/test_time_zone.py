"""The shop's own time zone (``Shop.zone``): the same instants read by a shop in Asia/Shanghai and by one in
Europe/Berlin fall on their own local days and hours, in the KPIs (live and rolled up), the hourly report,
the live monitor's "today", the history search and its times; changing the zone drops the rollups."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from backoffice import services as shop_services
from backoffice.models import Shop, StaffAccount
from reports import kpis, monitor, rollups, staffing
from reports.models import DailyFacts, RollupDay
from routing import services
from routing.models import Conversation, EndReason
from tests.backoffice import factories
from tests.conftest import login_client

pytestmark = pytest.mark.django_db
SHANGHAI, BERLIN = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin")  # UTC+8; UTC+1 in March (CET)
MAR_1, MAR_2 = date(2026, 3, 1), date(2026, 3, 2)
# Three robot sessions at the same instants in both shops:
# 2026-03-02 06:30 Shanghai = 03-01 23:30 Berlin; 10:00 = 03:00 Berlin; 20:00 = 13:00 Berlin.
INSTANTS = [datetime(2026, 3, 2, h, m, tzinfo=SHANGHAI) for h, m in ((6, 30), (10, 0), (20, 0))]


def sessions(shop: Shop) -> None:
    for i, moment in enumerate(INSTANTS):
        with time_machine.travel(moment, tick=False):
            buyer = factories.buyer(shop, f"tz{i}", f"时区买家{i}")
            services.post_buyer_message(buyer=buyer, text="在吗")
            conv = Conversation.objects.get(buyer=buyer)
            services.post_robot_message(conversation=conv, text="亲，在的")
            services.end_conversation(conversation=conv, reason=EndReason.BUYER)


@pytest.fixture
def shops(shop_a: Shop, shop_b: Shop, owner: StaffAccount, outsider: StaffAccount) -> tuple[Shop, Shop]:
    for staff in (owner, outsider):
        services.set_agent_status(staff=staff, status="offline")
    shop_services.set_time_zone(shop=shop_b, name="Europe/Berlin")
    sessions(shop_a)
    sessions(shop_b)
    return Shop.objects.get(pk=shop_a.pk), Shop.objects.get(pk=shop_b.pk)


def per_day(shop: Shop, first: date, last: date) -> dict[date, int]:
    facts = rollups.facts_between(shop, first, last, now=datetime(2026, 3, 10, tzinfo=UTC))
    return {day: f.consultations for day, f in sorted(kpis.by_day(facts).items()) if f.consultations}


def test_a_shop_gets_asia_shanghai_and_reads_its_zone(shop_a: Shop) -> None:
    assert shop_a.time_zone == "Asia/Shanghai"
    assert shop_a.zone == SHANGHAI


def test_the_same_sessions_fall_on_each_shops_local_days(shops: tuple[Shop, Shop]) -> None:
    shanghai, berlin = shops
    assert per_day(shanghai, MAR_1, MAR_2) == {MAR_2: 3}
    assert per_day(berlin, MAR_1, MAR_2) == {MAR_1: 1, MAR_2: 2}
    assert kpis.day_bounds(berlin, MAR_2, MAR_2) == (
        datetime(2026, 3, 2, tzinfo=BERLIN),
        datetime(2026, 3, 3, tzinfo=BERLIN),
    )


def test_rolled_up_days_are_the_shops_local_days(shops: tuple[Shop, Shop]) -> None:
    shanghai, berlin = shops
    for shop in shops:
        rollups.rollup_day(shop, MAR_1)
        rollups.rollup_day(shop, MAR_2)
    stored = {
        (row.shop_id, row.day): row.consultations
        for row in DailyFacts.objects.filter(consultations__gt=0).order_by()
    }
    assert stored == {(shanghai.pk, MAR_2): 3, (berlin.pk, MAR_1): 1, (berlin.pk, MAR_2): 2}
    assert per_day(berlin, MAR_1, MAR_2) == {MAR_1: 1, MAR_2: 2}  # now read from the rollups


def test_the_rollup_task_creates_the_days_of_each_shops_zone(shops: tuple[Shop, Shop]) -> None:
    shanghai, berlin = shops
    # 2026-03-02 20:30 UTC: 03-03 04:30 in Shanghai (yesterday 03-02), 21:30 in Berlin (yesterday 03-01).
    rollups.mark_due(datetime(2026, 3, 2, 20, 30, tzinfo=UTC))
    days = set(RollupDay.objects.values_list("shop_id", "day"))
    assert (shanghai.pk, MAR_2) in days
    assert (berlin.pk, MAR_1) in days and (berlin.pk, MAR_2) not in days


def test_the_hourly_report_uses_the_shops_hours(shops: tuple[Shop, Shop]) -> None:
    shanghai, berlin = shops
    busy = {h.hour: h.consultations for h in staffing.hourly(shanghai, MAR_2) if h.consultations}
    assert busy == {6: 1, 10: 1, 20: 1}
    busy = {h.hour: h.consultations for h in staffing.hourly(berlin, MAR_2) if h.consultations}
    assert busy == {3: 1, 13: 1}
    busy = {h.hour: h.consultations for h in staffing.hourly(berlin, MAR_1) if h.consultations}
    assert busy == {23: 1}


def test_today_is_the_shops_today(shops: tuple[Shop, Shop]) -> None:
    shanghai, berlin = shops
    moment = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)  # 03-02 06:00 Shanghai, 03-01 23:00 Berlin
    assert rollups.today(shanghai, moment) == MAR_2
    assert rollups.today(berlin, moment) == MAR_1
    with time_machine.travel(datetime(2026, 3, 2, 23, 30, tzinfo=BERLIN), tick=False):
        # 03-02 in Berlin (its two sessions of that day); already 03-03 in Shanghai (none yet).
        assert monitor.today_figures(berlin)["consultations"] == 2
        assert monitor.today_figures(shanghai)["consultations"] == 0


def test_history_searches_and_shows_the_shops_local_times(
    shops: tuple[Shop, Shop], outsider: StaffAccount
) -> None:
    client = login_client(outsider)  # the owner of the Berlin shop
    html = client.get(f"/reports/history/?from={MAR_1}&to={MAR_1}").content.decode()
    assert "2026-03-01 23:30" in html  # 06:30 Shanghai, shown in Berlin time
    assert len(re.findall(r'href="/reports/history/\d+/"', html)) == 1
    rows = client.get(f"/reports/history/?from={MAR_1}&to={MAR_2}&export=csv").content.decode("utf-8-sig")
    assert "2026-03-01 23:30:00" in rows and "2026-03-02 13:00:00" in rows


def test_changing_the_zone_drops_the_rollups_and_figures_follow(shops: tuple[Shop, Shop]) -> None:
    shanghai, _berlin = shops
    rollups.rollup_day(shanghai, MAR_2)
    assert RollupDay.objects.filter(shop=shanghai).exists()
    shop_services.set_time_zone(shop=shanghai, name="Europe/Berlin")
    assert not RollupDay.objects.filter(shop=shanghai).exists()
    assert not DailyFacts.objects.filter(shop=shanghai).exists()
    assert per_day(Shop.objects.get(pk=shanghai.pk), MAR_1, MAR_2) == {MAR_1: 1, MAR_2: 2}


def test_the_kpi_page_counts_the_shops_local_days(shops: tuple[Shop, Shop], outsider: StaffAccount) -> None:
    client = login_client(outsider)  # the owner of the Berlin shop
    html = client.get(f"/reports/?from={MAR_1}&to={MAR_1}").content.decode()
    row = html.split('data-kpi="consultations"', 1)[1].split("</tr>", 1)[0]
    assert 'class="num">1<' in row  # 06:30 Shanghai on 03-02 is 23:30 on 03-01 in Berlin
