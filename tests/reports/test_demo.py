"""The demo shop's reports: weeks of figures from rollups, quality reviews, and a second seed adds none."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from backoffice.models import StaffAccount
from reports import kpis, rollups
from reports.models import DailyFacts, QualityReview, RollupDay
from tests.backoffice.test_seed_demo import demo_settings, main_shop, seed  # noqa: F401  (a fixture)
from tests.conftest import login_client


@pytest.mark.django_db
def test_demo_has_weeks_of_rolled_up_figures_and_reviews(demo_settings: Any) -> None:  # noqa: F811
    seed()
    shop = main_shop()
    today = rollups.today(shop)
    assert RollupDay.objects.filter(shop=shop, stale=False).count() >= 20  # three weeks of past days
    assert not RollupDay.objects.filter(shop=shop, stale=True).exists()
    first = today - timedelta(days=21)
    stored, _covered = rollups.stored_facts(shop, first, today - timedelta(days=1))
    raw = kpis.raw_facts(shop, first, today - timedelta(days=1))
    assert kpis.evaluate(kpis.total(stored.values())) == kpis.evaluate(kpis.total(raw.values()))
    totals = kpis.evaluate(kpis.total(stored.values()))
    assert totals["human_sessions"] and totals["ratings"] and totals["online_time"]
    assert QualityReview.objects.count() == 12
    supervisor = StaffAccount.objects.get(shop=shop, user__username="supervisor")
    page = login_client(supervisor).get(f"/reports/?from={first}&to={today}")
    assert page.status_code == 200

    rows, reviews = DailyFacts.objects.count(), QualityReview.objects.count()
    assert "already seeded" in seed()
    assert (DailyFacts.objects.count(), QualityReview.objects.count()) == (rows, reviews)
