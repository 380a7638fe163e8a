"""Two integrations pushing the same batch at the same moment: each row exists once, nothing fails."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from backoffice import services
from backoffice.models import Buyer, Order, OrderItem, Shop
from tests.backoffice.factories import order_record
from tests.conftest import requires_postgres


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_batches_upsert_each_row_once(shop_a: Shop) -> None:
    buyers = [{"platform_id": f"b{i}", "nickname": f"买家{i}"} for i in range(200)]
    orders = [order_record(f"O{i}", f"b{i}") for i in range(200)]
    services.upsert_buyers(shop=shop_a, records=buyers[:1])
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def push() -> None:
        try:
            barrier.wait()
            services.upsert_buyers(shop=shop_a, records=buyers)
            services.upsert_orders(shop=shop_a, records=orders)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads: list[Any] = [threading.Thread(target=push) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert Buyer.objects.filter(shop=shop_a).count() == 200
    assert Order.objects.filter(shop=shop_a).count() == 200
    assert OrderItem.objects.filter(order__shop=shop_a).count() == 200
