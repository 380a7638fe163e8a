"""The supervisor's morning check (seed 002), in a browser: the operations page shows today's shipping
warnings with the voucher owed, the package center's record and the open service request; the supervisor
sees a new alert of the beat task arrive live, marks the ticket handled, takes an after-sale request through
with the guide, and files a delay report with its evidence. And an agent agrees to an after-sale request
from the buyer panel beside the chat."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from channels.layers import channel_layers
from django.utils import timezone
from playwright.sync_api import expect

from backoffice import tasks
from backoffice.models import AfterSaleRequest, DelayReport, Order, ServiceRequest, Shop, StaffAccount
from backoffice.operations import aftersale, service_requests
from tests.backoffice import factories
from tests.browser.conftest import (
    LiveServer,
    open_chat,
    open_workbench,
    requires_chromium,
    requires_live_stack,
)
from tests.ops.conftest import shipped, to_ship
from tests.routing.images import image_bytes

pytestmark = [requires_live_stack, requires_chromium, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server_layer(live_server_process: LiveServer, settings: Any) -> Iterator[None]:
    """This process's channel layer is the live server's (its prefix): the events a beat task run here
    publishes reach the server's sockets, as a Celery worker's would."""
    layers = settings.CHANNEL_LAYERS
    settings.CHANNEL_LAYERS = {
        "default": {
            **layers["default"],
            "CONFIG": {**layers["default"]["CONFIG"], "prefix": live_server_process.prefix},
        }
    }
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def test_supervisors_morning_check(
    new_context: Any, role_groups: None, server_layer: None, shop_a: Shop, tmp_path: Path, settings: Any
) -> None:
    supervisor = factories.staff(shop_a, "sup_live", "主管-老周", role="cs_supervisor")
    to_ship(shop_a, "LATE-1", ship_in=-timedelta(hours=2), prices=("3000.01",))
    to_ship(shop_a, "SOON-1", ship_in=timedelta(hours=4))
    shipped(shop_a, "PARCEL-1", ago=timedelta(hours=13))
    tasks.late_shipments()
    tasks.package_alerts()
    service_requests.receive_service_requests(
        shop=shop_a,
        records=[
            {"number": "FW-1", "category": "urgent", "subject": "买家催发货", "received_at": timezone.now()}
        ],
    )
    order = factories.order(shop_a, "AS-1", status="to_ship")
    aftersale.create_request(shop=shop_a, order=order, kind="refund_only", reason="not_wanted")

    page = new_context(supervisor).new_page()
    page.goto("/ops/")
    shipping = page.locator("#ops-shipping")
    expect(shipping.locator("tbody tr").first).to_have_attribute("data-number", "LATE-1")  # most urgent first
    expect(shipping.locator('tr[data-number="LATE-1"]')).to_contain_text("¥30.00")
    expect(shipping.locator('tr[data-number="SOON-1"]')).to_be_visible()
    expect(page.locator('#ops-packages tr[data-number="PARCEL-1"]')).to_contain_text("即将揽收超时")
    expect(page.locator('#ops-runs [data-job="late"]')).not_to_contain_text("从未运行")  # the check ran
    expect(page.locator("#ops-unread")).to_have_text("2")  # LATE-1 late, PARCEL-1 about to time out

    expect(page.locator("#ops-alerts")).to_have_attribute("data-live", "open")  # the socket listens
    to_ship(shop_a, "LATE-LIVE", ship_in=-timedelta(minutes=5))
    tasks.late_shipments()  # the beat task, while the page is open: its alert arrives without a reload
    expect(page.locator("#ops-alert-list li").first).to_contain_text("LATE-LIVE")
    expect(page.locator("#ops-unread")).to_have_text("3")
    page.locator("#ops-alerts-read button").click()
    expect(page.locator("#ops-unread")).to_be_hidden()

    page.locator('#ops-requests tr[data-number="FW-1"] button.ops-handle').click()
    expect(page.locator("#ops-done")).to_be_visible()
    expect(page.locator('#ops-requests tr[data-number="FW-1"]')).to_have_count(0)
    assert ServiceRequest.objects.get(number="FW-1").state == "handled"

    card = page.locator("#ops-after-sales .after-sale")
    expect(card.locator(".as-guide")).to_contain_text("未发货-仅退款")
    card.locator('form[data-action="agree"] button').click()
    expect(page.locator("#ops-after-sales .after-sale .as-state")).to_have_text("已同意")
    page.locator('#ops-after-sales form[data-action="refund"] button').click()
    expect(page.locator("#ops-after-sales .after-sale")).to_have_count(0)  # done: no longer open
    assert AfterSaleRequest.objects.get().state == "refunded"

    page.locator("#ops-delays-link").click()
    form = page.locator("#delay-form")
    form.locator('select[name="reason"]').select_option("weather")
    form.locator('input[name="orders"]').fill("SOON-1")
    notice = tmp_path / "快递停发通知.png"
    notice.write_bytes(image_bytes("PNG", (60, 40)))
    form.locator('input[name="files"]').set_input_files(str(notice))
    form.locator('button[type="submit"]').click()
    expect(page.locator("#ops-done")).to_be_visible()
    expect(page.locator('#delay-reports tr[data-status="pending"]')).to_contain_text("SOON-1")
    expect(page.locator("#delay-reports")).to_contain_text("快递停发通知.png")
    assert DelayReport.objects.get().orders.get().number == "SOON-1"


def test_agent_agrees_to_an_after_sale_request_beside_the_chat(
    new_context: Any, role_groups: None, shop_a: Shop, agent: StaffAccount
) -> None:
    buyer = factories.buyer(shop_a, "as_b1", "想退款的小鹿")
    order = factories.order(shop_a, "AS-CHAT", "as_b1", status="to_ship")
    request = aftersale.create_request(shop=shop_a, order=order, kind="refund_only", reason="not_wanted")
    workbench = open_workbench(new_context, agent)
    chat = open_chat(new_context, shop_a, buyer.platform_id, buyer.nickname)
    chat.locator("#input").fill("我想退款")
    chat.locator("#input").press("Enter")
    workbench.locator("#session-list li.session").first.click()

    card = workbench.locator(f'#buyer-panel .after-sale[data-id="{request.pk}"]')
    expect(card.locator(".as-state")).to_have_text("待商家处理")
    expect(card.locator('form[data-action="refund"]')).to_be_hidden()
    card.locator('form[data-action="agree"] button').click()
    expect(card.locator(".as-state")).to_have_text("已同意")  # updated in place, no reload
    expect(card.locator('form[data-action="refund"]')).to_be_visible()
    expect(card.locator('form[data-action="agree"]')).to_be_hidden()
    assert AfterSaleRequest.objects.get(pk=request.pk).state == "agreed"
    # The buyer's chat hears of it (a system message), and the order's after-sale status follows.
    expect(chat.locator(".msg.system").last).to_contain_text("商家已同意")
    expect(workbench.locator(".msg.system").last).to_contain_text("AS-CHAT")
    assert Order.objects.get(pk=order.pk).after_sale_status == "refund_requested"


def test_agent_opens_an_after_sale_request_from_the_chat(
    new_context: Any, role_groups: None, shop_a: Shop, agent: StaffAccount
) -> None:
    buyer = factories.buyer(shop_a, "as_b2", "地址填错的小鹿")
    factories.order(shop_a, "AS-NEW", "as_b2", status="shipped", shipped_at=timezone.now())
    workbench = open_workbench(new_context, agent)
    chat = open_chat(new_context, shop_a, buyer.platform_id, buyer.nickname)
    chat.locator("#input").fill("地址填错了，能退款吗")
    chat.locator("#input").press("Enter")
    workbench.locator("#session-list li.session").first.click()

    order = workbench.locator('#buyer-panel .order[data-number="AS-NEW"]')
    order.locator('.as-new select[name="reason"]').select_option("wrong_address")
    order.locator(".as-new button.as-open").click()
    card = order.locator(".after-sale")
    expect(card.locator(".as-guide")).to_contain_text("已发货-仅退款")  # the seed's guide for the case
    expect(card.locator('form[data-action="intercept"]')).to_be_visible()
    made = AfterSaleRequest.objects.get(order__number="AS-NEW")
    assert (made.kind, made.order_state, made.created_by_id) == ("refund_only", "shipped", agent.pk)
