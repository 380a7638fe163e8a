"""The reception hook: who answers a buyer whose chat is still with the robot (state ``robot``).

Routing never imports the robot. It calls the function named by the setting ``ROUTING_RECEPTION`` (a
dotted path, resolved once per process by ``receiver()``) with the buyer messages of a batch that were
stored in such chats, in order; the robot app points the setting at its own receiver, which answers with
``services.post_robot_message`` and hands over with ``services.hand_over``. The default, ``to_human``,
hands every such chat to a human at its first message: no robot.

A receiver returns one entry per message: None, or the error that kept that message from being received
(the messages are committed already, so it becomes that send's result and the others go on). A buyer's
resend of a stored message reaches the receiver again, so it must be idempotent: answer with a
``client_msg_id`` derived from the message (``f"robot-{message.pk}"``), and a hand-over of a chat already
routed changes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from django.conf import settings
from django.utils.module_loading import import_string

from backoffice.models import Buyer, Product
from routing import services
from routing.models import ArrivalReason, Message


@dataclass(frozen=True)
class Received:
    """A buyer message just stored in a chat with the robot, and the product page the chat was opened from."""

    message: Message
    buyer: Buyer
    source_product: Product | None = None


Receiver = Callable[[Sequence[Received]], list[Exception | None]]


def to_human(received: Sequence[Received]) -> list[Exception | None]:
    """No robot: each conversation goes to a human at its first message of the batch."""
    first: dict[int, int] = {}  # conversation id -> index of its first message here
    for i, item in enumerate(received):
        first.setdefault(item.message.conversation_id, i)
    arrivals = [
        services.Arrival(received[i].buyer, received[i].source_product, reason=ArrivalReason.NO_ROBOT)
        for i in first.values()
    ]
    results: list[Exception | None] = [None] * len(received)
    for i, error in zip(first.values(), services.hand_over(arrivals), strict=True):
        results[i] = error
    return results


@functools.cache
def receiver() -> Receiver:
    """The configured receiver (``settings.ROUTING_RECEPTION``), imported on first use."""
    return cast(Receiver, import_string(settings.ROUTING_RECEPTION))
