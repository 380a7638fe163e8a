"""Real concurrent transactions against the routing engine on PostgreSQL (ENGINEERING.md, rule 8).

Every test starts its threads together on a ``threading.Barrier``; each thread uses its own database
connection and closes it when done. After each race the seat accounting must hold:
``AgentState.load`` equals the agent's active conversations (``load_matches_open_sessions(shop) == []``).

The repeated races leave the interleaving to the scheduler; ``in_order`` forces each interleaving of two
writers instead (the first holds its row lock until the second is seen waiting for it, or has finished),
so both outcomes are tested every run and each test proves that both sides of its race ran.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from backoffice import services as backoffice_services
from backoffice.errors import Conflict
from backoffice.models import Buyer, Role, Shop, StaffAccount
from routing.consumers import Send, _buyer_sends
from routing.models import (
    AgentState,
    Conversation,
    ConversationState,
    EndReason,
    Message,
    RoutingSettings,
    Transfer,
)
from routing.services import (
    BuyerSend,
    auto_end_idle,
    end_conversation,
    load_matches_open_sessions,
    messages,
    post_buyer_message,
    pull_from_queue,
    request_human,
    routing_settings,
    set_agent_status,
    transfer,
)
from routing.services.seats import active_counts
from tests.conftest import PASSWORD, requires_postgres
from tests.roundtrips import round_trips
from tests.routing.conftest import ON_LOOP, WORKER_STORES

ARRIVALS = 200
ARRIVAL_THREADS = 16
AGENTS = 20
REPEATS = 20

# Only the agents each test creates take chats (the owner may take part in simple mode).
pytestmark = [
    requires_postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("owner_offline"),
]


# --- helpers -----------------------------------------------------------------------------------------------


def run_together(tasks: Sequence[Callable[[], Any]], timeout: float = 120) -> list[Any]:
    """Run each task in its own thread, all released at once; returns each result or the raised exception."""
    barrier = threading.Barrier(len(tasks))
    results: list[Any] = [None] * len(tasks)

    def runner(index: int, task: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = task()
        except BaseException as exc:  # collected and inspected by the caller
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i, t)) for i, t in enumerate(tasks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread is still running (deadlock?)"
    return results


def waiting_for_a_lock() -> bool:
    """Whether a backend of the test database waits for a lock now (seen from a connection of its own)."""
    db = connection.settings_dict
    with psycopg.connect(
        dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"], host=db["HOST"], port=db["PORT"] or None
    ) as watcher:
        row = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return bool(row and row[0])


def wait_for(condition: Callable[[], bool], what: str, deadline: float = 60) -> None:
    """Poll ``condition`` until it holds; a generous deadline only stops a broken test from hanging."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"gave up waiting: {what}"
        time.sleep(0.005)


def in_order(
    first: Callable[[], Any], second: Callable[[], Any], *, holds: str, second_blocks: bool
) -> tuple[Any, Any, bool]:
    """Run ``first`` until its first query containing ``holds`` (its row lock), start ``second``, and keep the
    lock until ``second`` is seen waiting for it (``second_blocks``) or has finished (it skips locked rows).
    Returns both results (or the exceptions raised) and whether ``second`` was seen blocked: proof that the
    two really met on the lock."""
    locked, second_done = threading.Event(), threading.Event()
    seen_blocked = [False]
    results: list[Any] = [None, None]

    def hold(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        result = execute(sql, params, many, context)
        if holds in sql and not locked.is_set():
            locked.set()
            if second_blocks:
                wait_for(waiting_for_a_lock, "the second writer to wait for the lock")
                seen_blocked[0] = True
            else:
                wait_for(second_done.is_set, "the second writer to finish")
        return result

    def run_first() -> None:
        try:
            with connection.execute_wrapper(hold):
                results[0] = first()
        except BaseException as exc:
            results[0] = exc
        finally:
            locked.set()  # never leave the second waiting for a lock that was never taken
            connection.close()

    def run_second() -> None:
        locked.wait(60)
        try:
            results[1] = second()
        except BaseException as exc:
            results[1] = exc
        finally:
            second_done.set()
            connection.close()

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a thread is still running (deadlock?)"
    return results[0], results[1], seen_blocked[0]


def make_buyers(shop: Shop, count: int, prefix: str = "b") -> list[Buyer]:
    records = [{"platform_id": f"{prefix}{i}", "nickname": f"买家{prefix}{i}"} for i in range(count)]
    backoffice_services.upsert_buyers(shop=shop, records=records)
    return list(Buyer.objects.filter(shop=shop, platform_id__startswith=prefix).order_by("pk"))


def new_agent(
    shop: Shop, login: str, *, max_concurrent: int | None = None, online: bool = True
) -> StaffAccount:
    staff = backoffice_services.create_staff_account(
        shop=shop,
        login=login,
        password=PASSWORD,
        display_name=f"客服-{login}",
        role=Role.AGENT,
        im_enabled=True,
    )
    if max_concurrent is not None:
        StaffAccount.objects.filter(pk=staff.pk).update(max_concurrent=max_concurrent)
        staff.refresh_from_db()
    if online:
        set_agent_status(staff=staff, status="online")
    return staff


def make_agents(shop: Shop, count: int) -> dict[int, int]:
    """``count`` online agents with limits 3..6; returns {staff_id: max_concurrent}."""
    limits: dict[int, int] = {}
    for i in range(count):
        limit = 3 + i % 4
        staff = new_agent(shop, f"agent{i}", max_concurrent=limit)
        limits[staff.pk] = limit
    return limits


def queued_conversation(shop: Shop, buyer: Buyer) -> Conversation:
    return Conversation.objects.create(
        shop=shop, buyer=buyer, state=ConversationState.QUEUED, queued_at=timezone.now()
    )


def active_per_agent(shop: Shop) -> dict[int, int]:
    return active_counts(shop.pk)


def arrive_all(buyers: list[Buyer]) -> list[Any]:
    """All buyers ask for a human at once, spread over ARRIVAL_THREADS threads."""
    slices = [buyers[i::ARRIVAL_THREADS] for i in range(ARRIVAL_THREADS)]

    def arrive(part: list[Buyer]) -> list[str]:
        return [request_human(buyer=b)[0].state for b in part]

    return run_together([partial(arrive, part) for part in slices])


def assert_no_errors(results: list[Any]) -> None:
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors


def assert_each_buyer_has_one_open_conversation(shop: Shop, buyers: list[Buyer]) -> None:
    open_per_buyer = Counter(
        Conversation.objects.filter(shop=shop)
        .exclude(state=ConversationState.ENDED)
        .values_list("buyer_id", flat=True)
    )
    assert set(open_per_buyer) == {b.pk for b in buyers}
    assert set(open_per_buyer.values()) == {1}
    assert Conversation.objects.filter(shop=shop).count() == len(buyers)


# --- arrivals ----------------------------------------------------------------------------------------------


def test_simultaneous_arrivals_never_exceed_limits_and_queue_the_rest(shop_a: Shop) -> None:
    limits = make_agents(shop_a, AGENTS)
    buyers = make_buyers(shop_a, ARRIVALS)
    assert sum(limits.values()) < ARRIVALS

    assert_no_errors(arrive_all(buyers))

    assert_each_buyer_has_one_open_conversation(shop_a, buyers)
    states = Counter(Conversation.objects.filter(shop=shop_a).values_list("state", flat=True))
    assert set(states) <= {ConversationState.ACTIVE, ConversationState.QUEUED}, states
    active = active_per_agent(shop_a)
    over = {a: (n, limits[a]) for a, n in active.items() if n > limits[a]}
    assert over == {}, f"agents over their limit: {over}"
    assert load_matches_open_sessions(shop_a) == []
    # Every seat is taken and the queue holds the rest: nobody was queued while a seat was free.
    assert states[ConversationState.ACTIVE] == sum(limits.values())
    assert states[ConversationState.QUEUED] == ARRIVALS - sum(limits.values())
    assert active == limits


def test_simultaneous_arrivals_in_no_queue_mode_are_all_assigned(shop_a: Shop) -> None:
    RoutingSettings.objects.update_or_create(shop=shop_a, defaults={"no_queue": True})
    limits = make_agents(shop_a, AGENTS)
    buyers = make_buyers(shop_a, ARRIVALS)

    assert_no_errors(arrive_all(buyers))

    assert_each_buyer_has_one_open_conversation(shop_a, buyers)
    states = Counter(Conversation.objects.filter(shop=shop_a).values_list("state", flat=True))
    assert states == {ConversationState.ACTIVE: ARRIVALS}, states
    assert load_matches_open_sessions(shop_a) == []
    active = active_per_agent(shop_a)
    assert sum(active.values()) == ARRIVALS
    # Over the limit is allowed in no-queue mode, but only once every agent is full.
    assert all(active.get(a, 0) >= limit for a, limit in limits.items()), (active, limits)


# --- pulling the same chat ---------------------------------------------------------------------------------


def test_two_agents_pulling_the_same_queued_chat_exactly_one_wins(shop_a: Shop) -> None:
    first = new_agent(shop_a, "puller1", online=False)
    second = new_agent(shop_a, "puller2", online=False)
    buyers = make_buyers(shop_a, REPEATS)
    wins: Counter[int] = Counter()
    for buyer in buyers:
        conv = queued_conversation(shop_a, buyer)
        results = run_together(
            [partial(pull_from_queue, agent=a, conversation=conv) for a in (first, second)]
        )
        winners = [r for r in results if isinstance(r, Conversation)]
        losers = [r for r in results if isinstance(r, Conflict)]
        assert len(winners) == 1 and len(losers) == 1, results
        conv.refresh_from_db()
        assert conv.state == ConversationState.ACTIVE
        assert conv.agent_id == winners[0].agent_id
        assert conv.agent_id is not None
        wins[conv.agent_id] += 1
        assert conv.routing_decisions.filter(outcome="assigned").count() == 1
        assert load_matches_open_sessions(shop_a) == []
        end_conversation(conversation=conv, reason=EndReason.AGENT)
    print(f"pull winners: {dict(wins)}")  # visible with -s
    assert load_matches_open_sessions(shop_a) == []
    assert AgentState.objects.filter(shop=shop_a).exclude(load=0).count() == 0


# --- end racing a transfer ---------------------------------------------------------------------------------


def test_end_racing_a_transfer_keeps_seats_consistent(shop_a: Shop) -> None:
    holder = new_agent(shop_a, "holder")
    target = new_agent(shop_a, "target", online=True)
    buyers = make_buyers(shop_a, REPEATS)
    outcomes: Counter[str] = Counter()
    for buyer in buyers:
        conv = pull_from_queue(agent=holder, conversation=queued_conversation(shop_a, buyer))
        assert conv.agent_id == holder.pk
        results = run_together(
            [
                partial(end_conversation, conversation=conv, reason=EndReason.BUYER),
                partial(transfer, conversation=conv, to_agent=target, by=holder, note="售后问题"),
            ]
        )
        ended, transferred = results
        assert isinstance(ended, Conversation), ended
        conv.refresh_from_db()
        assert conv.state == ConversationState.ENDED
        assert conv.end_reason == EndReason.BUYER
        transfers = list(Transfer.objects.filter(conversation=conv))
        if isinstance(transferred, Conflict):
            outcomes["ended first"] += 1
            assert transfers == []
            assert conv.agent_id == holder.pk
        else:
            assert isinstance(transferred, Conversation), transferred
            outcomes["transferred, then ended"] += 1
            assert [(t.from_agent_id, t.to_agent_id) for t in transfers] == [(holder.pk, target.pk)]
            assert conv.agent_id == target.pk
        assert load_matches_open_sessions(shop_a) == []
        assert AgentState.objects.filter(shop=shop_a).exclude(load=0).count() == 0
    print(f"race outcomes: {dict(outcomes)}")  # visible with -s


# --- the auto-end sweep racing a buyer message -------------------------------------------------------------


def idle_active_conversation(shop: Shop, agent: StaffAccount, buyer: Buyer) -> Conversation:
    conv = pull_from_queue(agent=agent, conversation=queued_conversation(shop, buyer))
    Conversation.objects.filter(pk=conv.pk).update(  # answered, then 16 minutes of buyer silence
        waiting_since=None, silent_since=timezone.now() - timedelta(minutes=16)
    )
    return conv


@pytest.mark.usefixtures("buyer_store")
def test_a_message_committed_before_the_sweep_keeps_the_chat_open(shop_a: Shop) -> None:
    agent = new_agent(shop_a, "sweeper_agent")
    (buyer,) = make_buyers(shop_a, 1)
    conv = idle_active_conversation(shop_a, agent, buyer)

    message = post_buyer_message(buyer=buyer, text="还在吗？")
    assert auto_end_idle() == 0

    conv.refresh_from_db()
    assert conv.state == ConversationState.ACTIVE
    assert message.conversation_id == conv.pk
    assert load_matches_open_sessions(shop_a) == []


@pytest.mark.usefixtures("buyer_store")
def test_sweep_racing_a_buyer_message_never_ends_a_chat_under_a_new_message(shop_a: Shop) -> None:
    agent = new_agent(shop_a, "race_agent", max_concurrent=REPEATS + 1)
    buyers = make_buyers(shop_a, REPEATS)
    outcomes: Counter[str] = Counter()
    for i, buyer in enumerate(buyers):
        conv = idle_active_conversation(shop_a, agent, buyer)
        text = f"我的快递到哪了 #{i}"
        swept, posted = run_together(
            [
                auto_end_idle,
                partial(post_buyer_message, buyer=buyer, text=text),
            ]
        )
        assert isinstance(swept, int), swept
        assert isinstance(posted, Message), posted
        conv.refresh_from_db()
        message = Message.objects.get(pk=posted.pk)
        if conv.state == ConversationState.ACTIVE:
            # The message won: the sweep skipped or no longer matched the row.
            outcomes["kept open"] += 1
            assert swept == 0
            assert message.conversation_id == conv.pk
            assert conv.last_buyer_message_at is not None
            assert conv.last_buyer_message_at >= message.created_at - timedelta(seconds=1)
        else:
            # The sweep won: the chat ended without the message, which started a new session.
            outcomes["ended, message in a new session"] += 1
            assert swept == 1
            assert conv.state == ConversationState.ENDED
            assert conv.end_reason == EndReason.AUTO
            assert message.conversation_id != conv.pk
            assert not conv.messages.filter(text=text).exists()
            new = Conversation.objects.get(pk=message.conversation_id)
            assert new.buyer_id == buyer.pk
            assert new.state == ConversationState.ROBOT
        # Never an ended conversation holding a message written after its end.
        for ended in Conversation.objects.filter(shop=shop_a, state=ConversationState.ENDED):
            assert ended.ended_at is not None
            assert not ended.messages.filter(sender="buyer", created_at__gt=ended.ended_at).exists()
        assert load_matches_open_sessions(shop_a) == []
        open_per_buyer = Counter(
            Conversation.objects.filter(buyer=buyer)
            .exclude(state=ConversationState.ENDED)
            .values_list("buyer_id", flat=True)
        )
        assert set(open_per_buyer.values()) <= {1}
    print(f"race outcomes: {dict(outcomes)}")  # visible with -s


# --- two sweeps at once ------------------------------------------------------------------------------------


SWEEP_CHATS = 50
SWEEP_AGENTS = 5
SWEEP_ROUNDS = 5


def test_two_simultaneous_sweeps_end_each_idle_chat_exactly_once(shop_a: Shop) -> None:
    routing_settings(shop_a)
    agents = [new_agent(shop_a, f"idle{i}", max_concurrent=SWEEP_CHATS) for i in range(SWEEP_AGENTS)]
    for round_ in range(SWEEP_ROUNDS):
        buyers = make_buyers(shop_a, SWEEP_CHATS, prefix=f"r{round_}b")
        convs = [idle_active_conversation(shop_a, agents[i % SWEEP_AGENTS], b) for i, b in enumerate(buyers)]
        assert sum(AgentState.objects.filter(shop=shop_a).values_list("load", flat=True)) == SWEEP_CHATS

        results = run_together([auto_end_idle, auto_end_idle])

        assert_no_errors(results)
        assert sum(results) == SWEEP_CHATS, results
        ended = Conversation.objects.filter(pk__in=[c.pk for c in convs], state=ConversationState.ENDED)
        assert ended.count() == SWEEP_CHATS
        assert set(ended.values_list("end_reason", flat=True)) == {EndReason.AUTO}
        assert load_matches_open_sessions(shop_a) == []
        assert set(AgentState.objects.filter(shop=shop_a).values_list("load", flat=True)) == {0}


# --- the same races with each interleaving forced ----------------------------------------------------------

ROW_LOCK = "FOR UPDATE"  # the first row lock each writer takes: the conversation (or the queue head)


@pytest.mark.parametrize("first", ["end", "transfer"])
def test_end_and_transfer_in_each_order(shop_a: Shop, first: str) -> None:
    holder, target = new_agent(shop_a, "holder"), new_agent(shop_a, "target")
    (buyer,) = make_buyers(shop_a, 1)
    conv = pull_from_queue(agent=holder, conversation=queued_conversation(shop_a, buyer))
    end = partial(end_conversation, conversation=conv, reason=EndReason.BUYER)
    move = partial(transfer, conversation=conv, to_agent=target, by=holder, note="售后问题")

    if first == "end":
        ended, moved, blocked = in_order(end, move, holds=ROW_LOCK, second_blocks=True)
    else:
        moved, ended, blocked = in_order(move, end, holds=ROW_LOCK, second_blocks=True)

    assert blocked, "the second writer never waited for the chat's lock"
    assert isinstance(ended, Conversation), ended
    conv.refresh_from_db()
    assert (conv.state, conv.end_reason) == (ConversationState.ENDED, EndReason.BUYER)
    if first == "end":
        assert isinstance(moved, Conflict), moved  # the transfer found the chat ended
        assert conv.agent_id == holder.pk and not Transfer.objects.filter(conversation=conv).exists()
    else:
        assert isinstance(moved, Conversation), moved  # the end waited, then ended the moved chat
        assert conv.agent_id == target.pk and Transfer.objects.filter(conversation=conv).count() == 1
    assert load_matches_open_sessions(shop_a) == []
    assert AgentState.objects.filter(shop=shop_a).exclude(load=0).count() == 0


# The lock holder holds through Django's connection (execute_wrapper): the loop's way only waits here.
@pytest.mark.parametrize(
    ("first", "buyer_store"),
    [
        *(("sweep", store) for store in [*WORKER_STORES, ON_LOOP]),
        *(("message", store) for store in WORKER_STORES),
    ],
    indirect=["buyer_store"],
)
def test_sweep_and_buyer_message_in_each_order(shop_a: Shop, first: str, buyer_store: str) -> None:
    agent = new_agent(shop_a, "race_agent")
    (buyer,) = make_buyers(shop_a, 1)
    conv = idle_active_conversation(shop_a, agent, buyer)
    post = partial(post_buyer_message, buyer=buyer, text="我的快递到哪了")

    if first == "sweep":  # the message waits for the sweep's lock, then finds the chat ended
        swept, posted, blocked = in_order(auto_end_idle, post, holds=ROW_LOCK, second_blocks=True)
        assert blocked, "the message never waited for the sweep's lock"
    else:  # the sweep skips the row the message holds
        posted, swept, _blocked = in_order(post, auto_end_idle, holds=ROW_LOCK, second_blocks=False)

    assert isinstance(posted, Message), posted
    conv.refresh_from_db()
    if first == "sweep":
        assert swept == 1 and conv.state == ConversationState.ENDED
        assert posted.conversation_id != conv.pk  # a new session, with the robot
        assert Conversation.objects.get(pk=posted.conversation_id).state == ConversationState.ROBOT
    else:
        assert swept == 0 and conv.state == ConversationState.ACTIVE
        assert posted.conversation_id == conv.pk
    assert load_matches_open_sessions(shop_a) == []


def test_a_pull_holding_the_queue_head_leaves_the_other_agent_a_conflict(shop_a: Shop) -> None:
    first, second = new_agent(shop_a, "puller1", online=False), new_agent(shop_a, "puller2", online=False)
    routing_settings(shop_a)  # created before: else the second waits on the first's insert of it
    (buyer,) = make_buyers(shop_a, 1)
    conv = queued_conversation(shop_a, buyer)
    won, lost, _blocked = in_order(
        partial(pull_from_queue, agent=first, conversation=conv),
        partial(pull_from_queue, agent=second, conversation=conv),
        holds=ROW_LOCK,
        second_blocks=False,
    )
    assert isinstance(won, Conversation) and won.agent_id == first.pk, won
    assert isinstance(lost, Conflict), lost  # it ran, and skipped the claimed row
    conv.refresh_from_db()
    assert conv.agent_id == first.pk
    assert conv.routing_decisions.filter(outcome="assigned").count() == 1
    assert load_matches_open_sessions(shop_a) == []


def test_a_sweep_holding_its_chats_leaves_the_second_sweep_nothing(shop_a: Shop) -> None:
    agent = new_agent(shop_a, "idle", max_concurrent=10)
    convs = [idle_active_conversation(shop_a, agent, b) for b in make_buyers(shop_a, 5)]
    one, other, _blocked = in_order(auto_end_idle, auto_end_idle, holds=ROW_LOCK, second_blocks=False)
    assert (one, other) == (5, 0)  # both ran; the second skipped every row the first had claimed
    assert (
        Conversation.objects.filter(pk__in=[c.pk for c in convs], state=ConversationState.ENDED).count() == 5
    )
    assert AgentState.objects.get(staff=agent).load == 0


def test_a_resend_racing_its_first_send_is_stored_once_without_a_gap(shop_a: Shop, buyer_store: str) -> None:
    """The resend waits for the first send's lock. PostgreSQL's statement took its snapshot before the first
    send committed, so its resend check cannot see it: the unique constraint stores it once all the same,
    and the batch goes again the ORM's way, so the resend gets the first send's id and seq and the chat's
    numbers have no gap. From the event loop (``ON_LOOP``: the first send holds its lock through Django's
    connection, in a worker thread) the loop declines the batch, and the worker thread's way answers it."""
    agent = new_agent(shop_a, "race_agent")
    (buyer,) = make_buyers(shop_a, 1)
    conv = idle_active_conversation(shop_a, agent, buyer)
    before = conv.last_seq
    send = partial(post_buyer_message, buyer=buyer, text="在吗", client_msg_id="same-send")
    holder = send
    if buyer_store == ON_LOOP:
        worker = messages.post_buyer_messages.worker  # type: ignore[attr-defined]
        holder = partial(lambda: worker([BuyerSend(buyer, "在吗", "same-send")])[0])
    first, again, blocked = in_order(holder, send, holds='INSERT INTO "routing_message"', second_blocks=True)
    assert blocked, "the resend never waited for the first send's lock"
    assert isinstance(first, Message) and isinstance(again, Message), (first, again)
    assert (again.pk, again.seq) == (first.pk, first.seq) == (first.pk, before + 1)
    conv.refresh_from_db()
    assert conv.last_seq == before + 1
    assert conv.messages.filter(client_msg_id="same-send").count() == 1
    assert post_buyer_message(buyer=buyer, text="还在吗").seq == before + 2


def test_a_buyer_batch_is_begin_one_statement_and_commit(shop_a: Shop) -> None:
    """As a chat process stores it (a worker-thread call on a pooled connection): no health-check query,
    and lock, resend check, insert and update in one statement; a resend among the sends adds one read.
    (Before: BEGIN, the lock, the resend check, the INSERT, the UPDATE and COMMIT, six round trips.)"""
    agent = new_agent(shop_a, "batch_agent", max_concurrent=20)
    buyers = make_buyers(shop_a, 20)
    for buyer in buyers:
        idle_active_conversation(shop_a, agent, buyer)

    def send(buyer: Buyer, cid: str) -> tuple[Buyer, Send]:
        return buyer, Send(type="send", client_msg_id=cid, text="在吗")

    fresh = [send(b, f"a{b.pk}") for b in buyers]
    assert round_trips(lambda: _buyer_sends(fresh)) == 3
    again = [fresh[0], *(send(b, f"b{b.pk}") for b in buyers[1:])]
    assert round_trips(lambda: _buyer_sends(again)) == 4
    assert Message.objects.filter(conversation__buyer__in=buyers).count() == 20 + 19  # the resend: no row
