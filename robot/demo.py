"""The robot of the demo shop (``manage.py seed_demo``): full-auto reception on, the built-in knowledge base
(every shop gets it at creation), and the recommended replies mined from the shop's past chats. Idempotent:
a second run changes nothing it did already."""

from __future__ import annotations

from backoffice.models import Shop
from robot import knowledge, recommend
from robot.models import RecommendedReply, RobotSettings
from robot.reception_config import save_reception


def set_up_demo(shop: Shop) -> list[str]:
    """The demo shop's robot; what was added (for seed_demo's summary)."""
    added = []
    if knowledge.ensure_builtin(shop):
        added.append("the robot's built-in knowledge base")
    if not RobotSettings.objects.filter(shop=shop, full_auto=True).exists():
        save_reception(shop, {"full_auto": True})
        added.append("full-auto robot reception")
    if not RecommendedReply.objects.filter(shop=shop).exists() and recommend.compute(shop_id=shop.pk):
        added.append("recommended replies")
    return added
