"""The robot's reception under concurrency (PostgreSQL): the same message received twice at once (a resend
racing its first send in another process) is read and answered once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from backoffice.models import Shop
from robot import reception
from robot.models import RobotSession, RobotTurn
from robot.reception_config import save_reception
from routing import services
from routing.models import Message
from routing.reception import Received
from tests.backoffice import factories
from tests.conftest import requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def test_one_message_received_twice_at_once_is_answered_once(shop_a: Shop) -> None:
    save_reception(shop_a, {"full_auto": True})
    buyer = factories.buyer(shop_a, "race1")
    message = services.post_buyer_message(buyer=buyer, text="什么时候发货", client_msg_id="r1")
    barrier = threading.Barrier(2)
    results: list[list[Exception | None]] = []

    def receive() -> None:
        try:
            stored = Message.objects.select_related("conversation").get(pk=message.pk)
            barrier.wait()
            results.append(reception.receive([Received(stored, buyer)]))
        finally:
            connection.close()

    threads = [threading.Thread(target=receive) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [[None], [None]]
    assert RobotSession.objects.count() == 1 and RobotTurn.objects.count() == 1
    senders = list(message.conversation.messages.order_by("seq").values_list("sender", flat=True))
    assert senders == ["buyer", "robot", "robot"]  # the opening text and one answer
