"""Self-service's limits under concurrent writers (PostgreSQL, real transactions): two owners' tabs adding
the last question or the last window entry at once make six questions and eight entries, never more; an
address change racing a shipment is refused."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from backoffice import services
from backoffice.errors import Conflict, DomainError
from backoffice.models import Order, StaffAccount
from robot.models import FaqItem, WindowEntry
from robot.selfservice import faq, window
from tests.backoffice import factories
from tests.conftest import requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; each result or the domain error it raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = calls[i]()
        except DomainError as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_adds_of_the_sixth_question_at_once_make_six(owner: StaffAccount) -> None:
    for n in range(5):
        faq.add_question(staff=owner, question=f"问{n}", answer="答")
    results = at_once(
        lambda: faq.add_question(staff=owner, question="甲", answer="答"),
        lambda: faq.add_question(staff=owner, question="乙", answer="答"),
    )
    assert sorted(type(r).__name__ for r in results) == ["FaqItem", "Invalid"]
    assert FaqItem.objects.for_shop(owner.shop).count() == 6


def test_two_adds_of_the_eighth_entry_at_once_make_eight(owner: StaffAccount) -> None:
    for kind in ("logistics", "after_sale_request", "after_sale_progress", "membership_gift"):
        window.add_entry(staff=owner, bar="presale", kind=kind, text="入会礼")
    p1, p2 = factories.product(owner.shop, "p1"), factories.product(owner.shop, "p2")
    results = at_once(
        lambda: window.add_entry(staff=owner, bar="presale", kind="product_link", product_id=p1.pk),
        lambda: window.add_entry(staff=owner, bar="presale", kind="product_link", product_id=p2.pk),
    )
    assert sorted(type(r).__name__ for r in results) == ["Invalid", "WindowEntry"]
    assert WindowEntry.objects.for_shop(owner.shop).filter(bar="presale").count() == 5  # + 3 fixed


def test_an_address_change_racing_a_shipment_is_refused(owner: StaffAccount) -> None:
    order = factories.order(owner.shop)
    stale = Order.objects.get(pk=order.pk)  # read before the shipment
    Order.objects.filter(pk=order.pk).update(status="shipped")
    with pytest.raises(Conflict):
        services.change_order_address(
            order=stale, receiver_name="李四", receiver_phone="139", address="上海市"
        )
    order.refresh_from_db()
    assert order.receiver_name == "王小明"
