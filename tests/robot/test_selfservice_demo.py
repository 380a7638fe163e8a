"""The demo shop's self-service seed: configured once, idempotent."""

from __future__ import annotations

from backoffice.models import StaffAccount
from robot.demo_selfservice import QUESTIONS, seed_self_service
from robot.models import FaqItem, FollowUpSettings, WindowEntry
from tests.backoffice import factories


def test_demo_self_service_is_seeded_once(owner: StaffAccount) -> None:
    for n in range(3):
        factories.product(owner.shop, f"p{n}", f"商品{n}")
    assert seed_self_service(owner) is True
    assert seed_self_service(owner) is False
    assert FaqItem.objects.for_shop(owner.shop).count() == len(QUESTIONS)
    assert WindowEntry.objects.for_shop(owner.shop).count() == 7
    assert FollowUpSettings.objects.get(shop=owner.shop).care_on
