"""The service-request clock runs 09:00-21:00 in the shop's own time zone (``Shop.zone``): the same ticket
received by a shop in Asia/Shanghai and by one in Europe/Berlin is due at each shop's own 09:00-21:00."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from backoffice import services
from backoffice.models import ServiceRequest, Shop
from backoffice.operations import clock, service_requests

pytestmark = pytest.mark.django_db
SHANGHAI, BERLIN = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin")


def receive(shop: Shop, number: str, received: datetime, hours: int = 12) -> ServiceRequest:
    service_requests.receive_service_requests(
        shop=shop,
        records=[
            {
                "number": number,
                "category": "agreed",
                "hours": hours,
                "subject": "工单",
                "received_at": received,
            }
        ],
    )
    return ServiceRequest.objects.get(shop=shop, number=number)


def test_the_same_ticket_is_due_on_each_shops_own_clock(shop_a: Shop, shop_b: Shop) -> None:
    services.set_time_zone(shop=shop_b, name="Europe/Berlin")
    shop_b.refresh_from_db()
    received = datetime(2026, 3, 2, 20, 0, tzinfo=BERLIN)  # 20:00 in Berlin = 03:00 on 03-03 in Shanghai
    berlin = receive(shop_b, "Z1", received)
    # Berlin: 1 h that evening, 11 h from 09:00 the next day: due 03-03 20:00 Berlin (the seed's example).
    assert berlin.due_at == datetime(2026, 3, 3, 20, 0, tzinfo=BERLIN)
    assert berlin.warn_at == datetime(2026, 3, 3, 17, 36, tzinfo=BERLIN)  # 80%: 9.6 h
    # Shanghai: received before 09:00, starts 09:00 on 03-03, 12 h: due 21:00 that day.
    shanghai = receive(shop_a, "Z1", received)
    assert shanghai.due_at == datetime(2026, 3, 3, 21, 0, tzinfo=SHANGHAI)


def test_the_holiday_pause_recomputes_in_the_shops_zone(shop_b: Shop) -> None:
    services.set_time_zone(shop=shop_b, name="Europe/Berlin")
    shop_b.refresh_from_db()
    receive(shop_b, "Z2", datetime(2026, 9, 30, 20, 0, tzinfo=BERLIN))
    service_requests.set_holiday_pause(shop=shop_b, pause=True)
    row = ServiceRequest.objects.get(shop=shop_b, number="Z2")
    # China's National Day holidays (10-01..10-07) are skipped; the hours are Berlin's.
    assert row.due_at == datetime(2026, 10, 8, 20, 0, tzinfo=BERLIN)


def test_the_clock_across_berlins_spring_forward_counts_wall_clock_hours() -> None:
    # 2026-03-29 02:00 -> 03:00 in Berlin (overnight, outside the window): 20:00 on 03-28 plus 12 h is
    # 1 h that evening and 11 h from 09:00 on 03-29: 20:00 on 03-29 (CEST).
    due = clock.add_business_time(
        datetime(2026, 3, 28, 20, 0, tzinfo=BERLIN), timedelta(hours=12), zone=BERLIN
    )
    assert due == datetime(2026, 3, 29, 20, 0, tzinfo=BERLIN)
    assert due.utcoffset() == timedelta(hours=2)
