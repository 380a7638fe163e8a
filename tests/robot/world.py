"""The robot reception's rows of a shop for the sweeps' worlds (tenancy, translations): one of each kind
its admin shows."""

from __future__ import annotations

from datetime import time

from django.db import models

from backoffice.models import Shop
from robot import diversion, unanswered
from robot.models import DiversionRule, RobotSession, RobotSettings, UnansweredGroup
from robot.reception_config import save_reception
from routing.models import Conversation


def robot_reception_objects(shop: Shop, conversation: Conversation) -> dict[type[models.Model], models.Model]:
    """The robot reception's rows of shop A: settings, a diversion rule, a robot session, an unanswered
    question (the world's buyer text)."""
    buyer_message = conversation.messages.filter(sender="buyer").order_by("seq").first()
    assert buyer_message is not None
    unanswered.record(message=buyer_message)
    return {
        RobotSettings: save_reception(shop, {"unsure_limit": 3}),
        DiversionRule: diversion.save_rule(shop=shop, start=time(20), end=time(23), ratio=70),
        RobotSession: RobotSession.objects.create(shop=shop, conversation=conversation),
        UnansweredGroup: UnansweredGroup.objects.get(shop=shop),
    }
