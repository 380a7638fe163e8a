"""Self-service follow-up's quiet hours (22:00-08:00) are read in the shop's own time zone (``Shop.zone``):
at one instant the shop in Asia/Shanghai is asleep and the one in Europe/Berlin sends."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from zoneinfo import ZoneInfo

from backoffice import services
from backoffice.models import Shop, StaffAccount
from robot.selfservice import followup
from tests.backoffice import factories
from tests.robot.test_selfservice_followup import messages_of, settings

SHANGHAI, BERLIN = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin")
NIGHT_IN_SHANGHAI = dt.datetime(2026, 6, 1, 23, 30, tzinfo=SHANGHAI)  # 17:30 in Berlin (CEST)


def test_quiet_hours_follow_each_shops_zone(
    owner: StaffAccount, outsider: StaffAccount, shop_a: Shop, shop_b: Shop
) -> None:
    services.set_time_zone(shop=shop_b, name="Europe/Berlin")
    settings(owner)
    settings(outsider)
    at = NIGHT_IN_SHANGHAI - timedelta(hours=30)
    ordered = {"status": "delivered", "delivered_at": at, "created_at": at - timedelta(days=3)}
    in_shanghai = factories.order(shop_a, "ZQ1", "zq1", **ordered)
    in_berlin = factories.order(shop_b, "ZQ2", "zq2", **ordered)
    assert followup.run(NIGHT_IN_SHANGHAI) == 1
    assert messages_of(in_shanghai.buyer) == [] and len(messages_of(in_berlin.buyer)) == 1
    s = followup.settings_of(shop_b.pk)
    assert not followup.in_quiet_hours(s, NIGHT_IN_SHANGHAI, BERLIN)
    assert followup.in_quiet_hours(s, NIGHT_IN_SHANGHAI, SHANGHAI)
