"""The demo shop's operations data (seed_demo): late, nearly late and picked-up orders, package records,
open tickets and after-sale requests; a second run adds nothing."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command

from backoffice.management.commands.seed_demo import MAIN_SHOP
from backoffice.models import AfterSaleRequest, LateShipment, PackageAlert, ServiceRequest, Shop


@pytest.mark.django_db
def test_demo_shop_has_operations_data_once(settings: Any) -> None:
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    shop = Shop.objects.get(name=MAIN_SHOP["name"])
    assert LateShipment.objects.for_shop(shop).count() >= 2
    assert LateShipment.objects.for_shop(shop).filter(voucher_amount__gt=0).exists()
    assert PackageAlert.objects.for_shop(shop).filter(closed_at__isnull=True).count() >= 2
    assert ServiceRequest.objects.for_shop(shop).filter(state="open").count() == 4
    assert {(r.kind, r.order_state) for r in AfterSaleRequest.objects.for_shop(shop)} == {
        ("refund_only", "not_shipped"),
        ("refund_only", "shipped"),
        ("return_refund", "received"),
        ("refund_only", "received"),
    }
    counts = [m.objects.count() for m in (LateShipment, PackageAlert, ServiceRequest, AfterSaleRequest)]
    call_command("seed_demo", stdout=io.StringIO())
    assert [
        m.objects.count() for m in (LateShipment, PackageAlert, ServiceRequest, AfterSaleRequest)
    ] == counts
