"""Reception helpers: a buyer's message through the chat consumers' path (stored, then received by the
configured receiver, the robot's), the robot switched on, an online agent."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from backoffice.models import Buyer, Product, Shop, StaffAccount
from robot.reception_config import save_reception
from routing import services
from routing.consumers import Send, _buyer_sends
from routing.models import Conversation, Message
from tests.backoffice import factories

Say = Callable[..., Message]


def say(buyer: Buyer, text: str, cid: str, product: Product | None = None) -> Message:
    """What the buyer socket does with a ``send`` frame: store, then the reception hook (errors raised)."""
    frame = Send(type="send", client_msg_id=cid, text=text, product=product.pk if product else None)
    result = _buyer_sends([(buyer, frame)])[0]
    if isinstance(result, Exception):
        raise result
    return result


def transcript(conv: Conversation) -> list[tuple[str, str]]:
    return list(conv.messages.order_by("seq").values_list("sender", "text"))


@pytest.fixture
def robot_on(shop_a: Shop) -> Shop:
    save_reception(shop_a, {"full_auto": True})
    return shop_a


@pytest.fixture
def online_agent(shop_a: Shop, owner: StaffAccount) -> StaffAccount:
    services.set_agent_status(staff=owner, status="offline")
    staff = factories.staff(shop_a, "agent_rc", "售后-阿杰")
    services.set_agent_status(staff=staff, status="online")
    return staff
