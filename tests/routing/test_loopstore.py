"""Buyer messages written from the event loop (``routing.services.loopstore``): the plain case in two round
trips (BEGIN with the statement, COMMIT) on the loop's own connection; everything else declined with
nothing written, for the worker thread's way. The rules themselves run on this path in ``test_rules.py``
and ``test_concurrency.py`` (the ``buyer_store`` parameter ``postgresql-loop``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from backoffice.errors import Invalid
from backoffice.models import Shop, StaffAccount
from routing import consumers, events, services
from routing.consumers import Send
from routing.models import Conversation, Message
from routing.reception import Received
from routing.services import BuyerSend, loopstore
from tests.backoffice import factories
from tests.conftest import requires_postgres
from tests.live import monitor, wait_until
from tests.roundtrips import loop_round_trips

pytestmark = [
    requires_postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("owner_offline"),
]
Agent = Callable[..., StaffAccount]


def chat(shop: Shop, pid: str) -> Conversation:
    """A buyer's chat with an agent (routed by ``request_human``)."""
    buyer = factories.buyer(shop, pid, f"买家{pid}")
    services.request_human(buyer=buyer)
    return Conversation.objects.get(buyer=buyer)


def on_a_loop(call: Callable[[], Awaitable[Any]]) -> Any:
    """``call()`` on an event loop of its own, whose connection is closed at its end."""

    async def run() -> Any:
        try:
            return await call()
        finally:
            await loopstore.close()

    return async_to_sync(run)()


def written(sends: Sequence[BuyerSend]) -> Any:
    return on_a_loop(lambda: loopstore.post_buyer_messages_on_loop(sends))


def test_a_plain_batch_is_two_round_trips_on_the_loop(shop_a: Shop, make_agent: Agent) -> None:
    agent = make_agent("a", max_concurrent=30)
    convs = [chat(shop_a, f"p{i}") for i in range(20)]
    sends = [BuyerSend(c.buyer, "在吗", f"p-{c.pk}") for c in convs]
    found: list[Any] = []

    async def call() -> None:
        found.append(await loopstore.post_buyer_messages_on_loop(sends))

    assert loop_round_trips(call) == (2, 0)  # BEGIN with the statement, COMMIT; no worker thread
    results, sent = found[0]
    assert [(m.conversation_id, m.seq, m.client_msg_id) for m in results] == [
        (c.pk, 1, f"p-{c.pk}") for c in convs
    ]
    stored = {m.pk: m for m in Message.objects.filter(conversation__in=convs)}
    assert {m.pk: (m.seq, m.text, m.created_at) for m in results} == {
        pk: (m.seq, m.text, m.created_at) for pk, m in stored.items()
    }
    assert set(
        Conversation.objects.filter(pk__in=[c.pk for c in convs]).values_list("last_seq", flat=True)
    ) == {1}
    # Each message to its buyer and to the agent; the reply timer already ran from the assignment.
    assert [(group, event.type) for group, _payload, event in sent] == [
        pair
        for c in convs
        for pair in ((events.buyer_group(c.buyer_id), "message"), (events.agent_group(agent.pk), "message"))
    ]


def gone_agent(shop: Shop, make_agent: Agent) -> BuyerSend:
    conv = chat(shop, "g")
    assert conv.agent is not None
    services.set_agent_status(staff=conv.agent, status="offline")
    return BuyerSend(conv.buyer, "人呢", "g1")


def resend(shop: Shop, make_agent: Agent) -> BuyerSend:
    conv = chat(shop, "r")
    services.post_buyer_message(buyer=conv.buyer, text="在吗", client_msg_id="r1")
    return BuyerSend(conv.buyer, "在吗", "r1")


def new_buyer(shop: Shop, make_agent: Agent) -> BuyerSend:
    return BuyerSend(factories.buyer(shop, "n", "新买家"), "你好", "n1")


def image(shop: Shop, make_agent: Agent) -> BuyerSend:
    return BuyerSend(chat(shop, "i").buyer, "[图片]", "i1", attachment=1)


@pytest.mark.parametrize("odd", [gone_agent, resend, new_buyer, image])
def test_a_batch_that_is_not_plain_is_declined_and_writes_nothing(
    shop_a: Shop, make_agent: Agent, odd: Callable[[Shop, Agent], BuyerSend]
) -> None:
    """A conversation whose agent is gone, a resend, a buyer without an open conversation, an image: the
    whole batch is left to the worker thread's way (None), the plain send beside it not written either."""
    make_agent("plain", max_concurrent=1)
    plain = chat(shop_a, "plain")
    make_agent("odd", max_concurrent=1)  # the odd send's chat (the first agent is full)
    send = odd(shop_a, make_agent)

    def state() -> tuple[list[int], dict[int, int]]:
        return (
            list(Message.objects.order_by("pk").values_list("pk", flat=True)),
            dict(Conversation.objects.values_list("pk", "last_seq")),
        )

    before = state()
    assert written([BuyerSend(plain.buyer, "在吗", "x1"), send]) is None
    assert state() == before


def test_a_text_error_is_its_sends_result_and_the_others_are_written(shop_a: Shop, make_agent: Agent) -> None:
    make_agent("a")
    conv = chat(shop_a, "t")
    results, _sent = written([BuyerSend(conv.buyer, "   ", "e1"), BuyerSend(conv.buyer, "好的", "e2")])
    assert isinstance(results[0], Invalid) and isinstance(results[1], Message)
    assert list(conv.messages.values_list("seq", "text")) == [(1, "好的")]


def test_a_lost_connection_declines_the_batch_and_the_next_one_reconnects(
    shop_a: Shop, make_agent: Agent
) -> None:
    make_agent("a")
    conv = chat(shop_a, "l")
    buyer = conv.buyer

    async def call() -> tuple[Any, Any]:
        pid = (await loopstore.loop_connection()).info.backend_pid
        with monitor() as db:
            db.execute("SELECT pg_terminate_backend(%s)", [pid])
            gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
            wait_until(
                lambda: db.execute(gone, [pid]).fetchone() == (0,), lambda: "the loop's backend still runs"
            )
        lost = await loopstore.post_buyer_messages_on_loop([BuyerSend(buyer, "在吗", "l1")])
        again = await loopstore.post_buyer_messages_on_loop([BuyerSend(buyer, "在吗", "l1")])
        return lost, again

    lost, again = on_a_loop(call)
    assert lost is None  # logged; the caller stores it the usual way
    assert again is not None and again[0][0].seq == 1
    assert list(conv.messages.values_list("client_msg_id", flat=True)) == ["l1"]


def test_a_message_written_on_the_loop_into_a_robot_chat_reaches_reception(
    shop_a: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consumers' store (``store_buyer_sends``): the loop writes, then a worker thread hands the message
    of a chat still with the robot to the reception hook, as the worker thread's way does."""
    buyer = factories.buyer(shop_a, "robot", "买家")
    conv = Conversation.objects.create(shop=shop_a, buyer=buyer, state="robot")
    on_loop: list[Any] = []
    written_on_loop = loopstore.post_buyer_messages_on_loop

    async def spy(sends: Sequence[BuyerSend]) -> Any:
        on_loop.append(await written_on_loop(sends))
        return on_loop[-1]

    received: list[Received] = []

    def receive(items: Sequence[Received]) -> list[Exception | None]:
        received.extend(items)
        return [None] * len(items)

    monkeypatch.setattr(loopstore, "post_buyer_messages_on_loop", spy)
    monkeypatch.setattr(consumers, "receiver", lambda: receive)
    frame = Send(type="send", client_msg_id="robot-1", text="发什么快递")
    results, sent = on_a_loop(lambda: consumers.store_buyer_sends([(buyer, frame)]))
    assert on_loop[0] is not None  # written on the loop
    assert [r.message.pk for r in received] == [results[0].pk]
    assert (results[0].conversation_id, results[0].seq) == (conv.pk, 1)
    assert [event.type for _group, _payload, event in sent] == ["message"]  # to the buyer; no agent yet


def test_a_reception_that_fails_after_the_loop_wrote_still_announces_the_message(
    shop_a: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message is committed before the reception runs: if the reception fails as a whole, its events go
    out all the same (the group commit then retries the send alone, a resend that announces nothing)."""
    buyer = factories.buyer(shop_a, "robot", "买家")
    Conversation.objects.create(shop=shop_a, buyer=buyer, state="robot")
    announced: list[Any] = []

    async def publish_now(sends: list[events.Sent], skip: Any = None) -> None:
        announced.extend(event for _group, _payload, event in sends)

    def receive(items: Sequence[Received]) -> list[Exception | None]:
        raise RuntimeError("the robot is down")

    monkeypatch.setattr(events, "publish_now", publish_now)
    monkeypatch.setattr(consumers, "receiver", lambda: receive)
    frame = Send(type="send", client_msg_id="robot-2", text="在吗")
    with pytest.raises(RuntimeError):
        on_a_loop(lambda: consumers.store_buyer_sends([(buyer, frame)]))
    stored = Message.objects.get(conversation__buyer=buyer)
    assert [(e.type, e.id) for e in announced] == [("message", stored.pk)]
