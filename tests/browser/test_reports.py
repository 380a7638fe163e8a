"""The supervisor's path through the reports: KPIs with definitions and charts, the history search, a
transcript and its quality review, an export, the hourly report with its chart, and the live monitor
updating itself when a chat arrives."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from backoffice.models import Role, Shop, StaffAccount
from reports.models import QualityReview
from routing import services
from tests.backoffice import factories
from tests.browser.conftest import make_agent, open_chat, requires_chromium, requires_live_stack
from tests.reports import world
from tests.reports.world import DAY

pytestmark = [requires_live_stack, requires_chromium, pytest.mark.django_db(transaction=True)]


def test_supervisor_reads_kpis_reviews_a_chat_and_watches_the_live_monitor(
    new_context: Any, role_groups: None, shop_a: Shop, owner: StaffAccount
) -> None:
    a = make_agent(shop_a, "rp_a", "售前-小美", status="offline")
    b = make_agent(shop_a, "rp_b", "售后-小林", status="offline")
    sessions = world.build(shop_a, owner, a, b)
    supervisor = factories.staff(shop_a, "rp_sup", "主管-老周", role=Role.CS_SUPERVISOR)
    page = new_context(supervisor).new_page()

    page.goto(f"/reports/?from={DAY}&to={DAY}")
    expect(page.locator('#kpi-table tr[data-kpi="consultations"] td.num')).to_have_text("5")
    expect(page.locator('#kpi-table tr[data-kpi="response_rate_3m"] td.num')).to_have_text("60.0%")
    expect(page.locator('#kpi-table tr[data-kpi="response_rate_3m"] td.def')).not_to_be_empty()
    expect(page.locator("#chart-trend")).to_have_attribute("data-drawn", "1")  # ECharts, under the CSP
    expect(page.locator("#chart-ratings canvas")).to_have_count(1)

    page.locator("nav.rp-tabs a").nth(1).click()
    page.locator('#history-filters input[name="from"]').fill(DAY.isoformat())
    page.locator('#history-filters input[name="to"]').fill(DAY.isoformat())
    page.locator('#history-filters input[name="q"]').fill("微波炉")
    page.locator("#history-filters button[type=submit]").click()
    expect(page.locator("#session-table tbody tr")).to_have_count(1)
    with page.expect_download() as download:
        page.locator("#export-csv").click()
    assert download.value.suggested_filename.endswith(".csv")
    page.locator("#session-table tbody tr a").first.click()

    expect(page.locator("#transcript .delay.slow")).to_have_count(1)  # the 240 s reply
    expect(page.locator("#trace li")).not_to_have_count(0)
    page.locator('#review-form input[name="score"]').fill("80")
    page.locator('#review-form input[value="timeliness"]').check()
    page.locator('#review-form textarea[name="comment"]').fill("第二次回复太慢")
    page.locator("#review-form button[type=submit]").click()
    expect(page.locator("#reviews .rp-review")).to_contain_text("第二次回复太慢")
    assert QualityReview.objects.get().conversation_id == sessions.s2.pk

    page.goto(f"/reports/hourly/?day={DAY}")
    expect(page.locator("#chart-hourly")).to_have_attribute("data-drawn", "1")
    expect(page.locator("#staffing-model")).to_be_visible()

    services.set_agent_status(staff=a, status="online")
    services.request_human(buyer=factories.buyer(shop_a, "live1", "直播间买家"))
    page.goto("/reports/live/")
    row = page.locator(f'#agent-monitor tr[data-agent="{a.pk}"]')
    expect(row).to_contain_text("1 / ")
    expect(row).to_contain_text("直播间买家")
    chat = open_chat(new_context, shop_a, "live2", "第二位买家")  # through the server, which publishes
    chat.locator("#input").fill("在吗")
    chat.locator("#input").press("Enter")
    expect(row).to_contain_text("2 / ")  # no reload: the monitor's socket pushed it
    expect(row).to_contain_text("第二位买家")
