"""The one place other parts of the robot app (FAQ, self-service, the buyer page) ask whether the robot's
full-auto reception is on for a shop."""

from __future__ import annotations

from robot.models import RobotSettings


def full_auto_on(shop_id: int) -> bool:
    """True when the shop turned full-auto reception on (no settings row yet: off)."""
    return RobotSettings.objects.filter(shop_id=shop_id, full_auto=True).exists()
