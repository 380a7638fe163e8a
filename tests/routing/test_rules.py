"""Every routing rule of the glossary, with the seeds' own examples where they give one."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backoffice import services as shop_services
from backoffice.errors import Conflict, Forbidden, Invalid, NotFound
from backoffice.models import Buyer, Shop, StaffAccount
from routing import events, services
from routing.models import (
    AgentGroup,
    AgentState,
    Conversation,
    Message,
    Rating,
    ReplyDelay,
    RoutingSettings,
)
from routing.services import Candidate, pick_agent
from routing.tasks import auto_end_idle as auto_end_task
from routing.tasks import route_stranded as route_stranded_task
from tests.backoffice import factories
from tests.routing.conftest import WORKER_STORES

pytestmark = pytest.mark.usefixtures("owner_offline")
Agent = Callable[..., StaffAccount]


def ask(shop: Shop, pid: str, **kw: Any) -> Conversation:
    buyer = Buyer.objects.filter(shop=shop, platform_id=pid).first() or factories.buyer(
        shop, pid, f"买家{pid}"
    )
    return services.request_human(buyer=buyer, **kw)[0]


def settings_of(shop: Shop, **changes: Any) -> RoutingSettings:
    s = services.routing_settings(shop)
    RoutingSettings.objects.filter(pk=s.pk).update(**changes)
    return s


# --- agent selection ---------------------------------------------------------------------------------------


def test_seed_example_idle_ratio_b_wins() -> None:
    a = Candidate(1, "A", load=2, max=10, weight=1, group_id=None)  # 80%
    b = Candidate(2, "B", load=3, max=30, weight=1, group_id=None)  # 90%
    assert a.idle_ratio == pytest.approx(0.8) and b.idle_ratio == pytest.approx(0.9)
    assert {pick_agent([a, b]).staff_id for _ in range(50)} == {2}  # type: ignore[union-attr]


def test_seed_example_through_the_pipeline(shop_a: Shop, make_agent: Agent, owner: StaffAccount) -> None:
    a, b = make_agent("A", 10), make_agent("B", 30)
    AgentState.objects.filter(staff=a).update(load=2)
    AgentState.objects.filter(staff=b).update(load=3)
    conv = ask(shop_a, "x")
    assert conv.agent_id == b.pk
    decision = conv.routing_decisions.get()
    assert decision.rule == "simple_mode/idle_ratio"
    [trace] = services.routing_trace(conv, viewer=owner)  # the owner manages routing
    assert {c["name"]: c["idle_ratio"] for c in trace["candidates"]} == {"A": 0.8, "B": 0.9}


def test_ties_are_random() -> None:
    rng = random.Random(7)
    one, two = Candidate(1, "one", 0, 5, 1, None), Candidate(2, "two", 0, 5, 1, None)
    wins = Counter(pick_agent([one, two], rng).staff_id for _ in range(8000))  # type: ignore[union-attr]
    assert wins[1] / 8000 == pytest.approx(0.5, abs=0.02)  # 4 standard deviations is ~0.022


def assign_in_turn(agents: list[Candidate], chats: int, rng: random.Random) -> Counter[int]:
    """Chats arriving one after another while none ends: each goes to ``pick_agent``'s choice."""
    got: Counter[int] = Counter()
    for _ in range(chats):
        chosen = pick_agent([a for a in agents if a.load < a.max], rng)
        assert chosen is not None
        chosen.load += 1
        got[chosen.staff_id] += 1
    return got


def test_weights_shape_the_share_of_open_chats() -> None:
    """Seed 003: 权重值越大的客服，分给他的人越多. Equal limits, weights 3 and 1: 3 of every 4 chats."""
    rng = random.Random(11)
    for _trial in range(50):  # whatever the random ties draw
        heavy = Candidate(1, "heavy", load=0, max=500, weight=3, group_id=None)
        light = Candidate(2, "light", load=0, max=500, weight=1, group_id=None)
        got = assign_in_turn([heavy, light], 400, rng)
        assert abs(got[1] - 300) <= 1 and abs(got[2] - 100) <= 1
    equal = assign_in_turn([Candidate(1, "a", 0, 500, 2, None), Candidate(2, "b", 0, 500, 2, None)], 400, rng)
    assert abs(equal[1] - equal[2]) <= 1


def test_weights_count_through_the_pipeline(shop_a: Shop, make_agent: Agent) -> None:
    heavy, light = make_agent("heavy", 20, weight=3), make_agent("light", 20, weight=1)
    got = Counter(ask(shop_a, f"w{i}").agent_id for i in range(16))
    assert abs(got[heavy.pk] - 12) <= 1 and abs(got[light.pk] - 4) <= 1
    assert services.load_matches_open_sessions(shop_a) == []


def test_an_empty_agent_goes_first_whatever_the_weights() -> None:
    idle = Candidate(1, "idle", load=0, max=5, weight=1, group_id=None)
    heavy = Candidate(2, "heavy", load=1, max=5, weight=100, group_id=None)
    assert {pick_agent([idle, heavy]).staff_id for _ in range(50)} == {1}  # type: ignore[union-attr]


def test_only_online_im_enabled_routing_agents_receive_chats(shop_a: Shop, make_agent: Agent) -> None:
    make_agent("busy", status="busy")
    make_agent("off", status="offline")
    make_agent("nonrouting", routing=False)
    online = make_agent("online")
    assert {ask(shop_a, f"b{i}").agent_id for i in range(3)} == {online.pk}


# --- returning buyer ---------------------------------------------------------------------------------------


def test_returning_buyer_goes_to_last_agent_even_when_full(shop_a: Shop, make_agent: Agent) -> None:
    last = make_agent("last", 1)
    first = ask(shop_a, "r")
    assert first.agent_id == last.pk
    services.end_conversation(conversation=first, reason="agent")
    assert ask(shop_a, "filler").agent_id == last.pk  # the only agent: their only seat is taken
    other = make_agent("other", 5)  # free seats: without the rule, routing would choose them
    again = ask(shop_a, "r")
    assert again.agent_id == last.pk
    assert again.routing_decisions.get().rule == "returning_buyer"
    assert AgentState.objects.get(staff=last).load == 2  # over the limit, as the rule allows
    assert AgentState.objects.get(staff=other).load == 0
    assert services.load_matches_open_sessions(shop_a) == []


def test_returning_buyer_with_offline_agent_is_routed_normally(shop_a: Shop, make_agent: Agent) -> None:
    last = make_agent("last")
    services.end_conversation(conversation=ask(shop_a, "r"), reason="agent")
    services.set_agent_status(staff=last, status="offline")
    other = make_agent("other")
    conv = ask(shop_a, "r")
    assert conv.agent_id == other.pk
    assert "offline" in conv.routing_decisions.get().note


def test_returning_window_is_72_hours(shop_a: Shop, make_agent: Agent) -> None:
    last = make_agent("last", 1)
    first = ask(shop_a, "r")
    services.end_conversation(conversation=first, reason="agent")
    Conversation.objects.filter(pk=first.pk).update(
        ended_at=timezone.now() - timedelta(hours=73), assigned_at=timezone.now() - timedelta(hours=74)
    )
    AgentState.objects.filter(staff=last).update(load=1)  # full
    other = make_agent("other")
    assert ask(shop_a, "r").agent_id == other.pk


# --- groups ------------------------------------------------------------------------------------------------


def test_group_scope_priority_crowd_product_intent_order_state(shop_a: Shop, make_agent: Agent) -> None:
    product = factories.product(shop_a, "p1")
    crowd = AgentGroup.objects.create(shop=shop_a, name="会员组", crowd={"member_level": ["金卡会员"]})
    by_product = AgentGroup.objects.create(shop=shop_a, name="商品组")
    by_product.products.add(product)
    by_intent = AgentGroup.objects.create(shop=shop_a, name="意图组", intents=["催发货"])
    by_order = AgentGroup.objects.create(shop=shop_a, name="售后组", order_states=["shipped", "delivered"])
    agents = {g.pk: make_agent(g.name, group=g) for g in (crowd, by_product, by_intent, by_order)}

    def routed(pid: str, tags: dict[str, str], **kw: Any) -> int | None:
        buyer = factories.buyer(shop_a, pid, pid, tags=tags)
        factories.order(shop_a, f"O-{pid}", pid, status="shipped")
        conv = services.request_human(buyer=buyer, **kw)[0]
        return conv.agent_id

    gold = {"member_level": "金卡会员"}
    assert routed("g", gold, source_product=product, intent="催发货") == agents[crowd.pk].pk
    assert routed("p", {}, source_product=product, intent="催发货") == agents[by_product.pk].pk
    assert routed("i", {}, intent="催发货") == agents[by_intent.pk].pk
    assert routed("o", {}) == agents[by_order.pk].pk


def test_simple_mode_includes_the_owner_by_default(shop_a: Shop, owner: StaffAccount) -> None:
    services.set_agent_status(staff=owner, status="online")
    assert ask(shop_a, "b").agent_id == owner.pk
    settings_of(shop_a, owner_routes_in_simple_mode=False)
    assert ask(shop_a, "c").state == "queued"  # nobody else: everyone offline, the offline queue


def test_deleting_all_groups_returns_to_simple_mode(shop_a: Shop, make_agent: Agent) -> None:
    group = AgentGroup.objects.create(shop=shop_a, name="售前", order_states=["none"])
    make_agent("in group", group=group)
    assert ask(shop_a, "a").routing_decisions.get().rule.startswith("group_by_order_state")
    group.delete()
    assert ask(shop_a, "b").routing_decisions.get().rule.startswith("simple_mode")


# --- queue -------------------------------------------------------------------------------------------------


def test_all_full_queues_with_position_and_estimate_then_end_drains(shop_a: Shop, make_agent: Agent) -> None:
    agent = make_agent("solo", 1)
    first = ask(shop_a, "1")
    second, third = ask(shop_a, "2"), ask(shop_a, "3")
    assert (second.state, third.state) == ("queued", "queued")
    assert services.queue_position(second) == (1, 300)
    assert services.queue_position(third) == (2, 600)
    services.end_conversation(conversation=first, reason="agent")
    second.refresh_from_db()
    assert (second.state, second.agent_id) == ("active", agent.pk)
    assert services.queue_position(third)[0] == 1


def test_lifo_serves_the_last_queued_first(shop_a: Shop, make_agent: Agent) -> None:
    make_agent("solo", 1)
    first = ask(shop_a, "1")
    older, newer = ask(shop_a, "2"), ask(shop_a, "3")
    settings_of(shop_a, queue_order="lifo")
    services.end_conversation(conversation=first, reason="agent")
    newer.refresh_from_db()
    older.refresh_from_db()
    assert (newer.state, older.state) == ("active", "queued")


def test_raising_the_limit_or_coming_online_drains_the_queue(shop_a: Shop, make_agent: Agent) -> None:
    agent = make_agent("solo", 1)
    ask(shop_a, "1")
    waiting = ask(shop_a, "2")
    services.set_reception_limit(actor=agent, staff=agent, limit=2)
    waiting.refresh_from_db()
    assert waiting.agent_id == agent.pk
    late = make_agent("late", 1, status="offline")
    queued = ask(shop_a, "3")
    assert queued.state == "queued"
    services.set_agent_status(staff=late, status="online")
    queued.refresh_from_db()
    assert queued.agent_id == late.pk


def test_new_buyer_priority_jumps_the_queue(shop_a: Shop, make_agent: Agent) -> None:
    settings_of(shop_a, new_buyer_priority=True)
    make_agent("solo", 1)
    first = ask(shop_a, "1")
    old = ask(shop_a, "old")
    new_buyer = factories.buyer(shop_a, "new", "新客", first_paid_at=timezone.now() - timedelta(days=3))
    factories.order(shop_a, "N-1", "new", paid_at=timezone.now() - timedelta(days=3))
    new_conv = services.request_human(buyer=new_buyer)[0]
    assert new_conv.priority
    assert services.queue_position(new_conv)[0] == 1
    services.end_conversation(conversation=first, reason="agent")
    new_conv.refresh_from_db()
    old.refresh_from_db()
    assert (new_conv.state, old.state) == ("active", "queued")


def test_no_queue_mode_assigns_to_the_best_saturated_agent(shop_a: Shop, make_agent: Agent) -> None:
    settings_of(shop_a, no_queue=True)
    small, big = make_agent("small", 1), make_agent("big", 4)
    convs = [ask(shop_a, str(i)) for i in range(6)]
    assert all(c.state == "active" for c in convs)
    assert services.agent_state(big).load == 4 + 1 or services.agent_state(small).load == 2
    assert services.load_matches_open_sessions(shop_a) == []


def test_non_routing_account_is_never_assigned_but_may_pull(shop_a: Shop, make_agent: Agent) -> None:
    helper = make_agent("helper", routing=False)
    make_agent("full", 1)
    ask(shop_a, "1")
    queued = ask(shop_a, "2")
    assert queued.state == "queued"
    pulled = services.pull_from_queue(agent=helper, conversation=queued)
    assert pulled.agent_id == helper.pk
    with pytest.raises(Conflict):
        services.pull_from_queue(agent=helper, conversation=queued)


# --- offline handling --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("buyer_store")
def test_message_to_an_offline_agent_goes_to_another_online_agent(shop_a: Shop, make_agent: Agent) -> None:
    first = make_agent("first")
    conv = ask(shop_a, "b")
    assert conv.agent_id == first.pk
    second = make_agent("second")
    services.set_agent_status(staff=first, status="offline")
    services.post_buyer_message(buyer=conv.buyer, text="在吗")
    conv.refresh_from_db()
    assert conv.agent_id == second.pk
    assert services.load_matches_open_sessions(shop_a) == []


def test_everyone_offline_goes_to_the_message_pool_held_by_the_owner(
    shop_a: Shop, owner: StaffAccount, make_agent: Agent
) -> None:
    settings_of(shop_a, offline_mode="pool")
    make_agent("off", status="offline")
    conv = ask(shop_a, "night")
    assert (conv.state, conv.agent_id) == ("pool", owner.pk)
    agent = make_agent("morning")
    services.reassign_from_pool(conversation=conv, to_agent=agent, by=owner)
    conv.refresh_from_db()
    assert (conv.state, conv.agent_id) == ("active", agent.pk)
    with pytest.raises(Forbidden):
        services.reassign_from_pool(conversation=ask(shop_a, "x"), to_agent=agent, by=agent)


def test_pool_holder_when_configured(shop_a: Shop, make_agent: Agent) -> None:
    assistant = make_agent("服务助手", status="offline")
    settings_of(shop_a, pool_holder=assistant, offline_mode="pool")
    assert ask(shop_a, "n").agent_id == assistant.pk


def test_a_disabled_pool_holder_falls_back_to_the_owner(
    shop_a: Shop, owner: StaffAccount, make_agent: Agent
) -> None:
    assistant = make_agent("服务助手", status="offline")
    settings_of(shop_a, pool_holder=assistant, offline_mode="pool")
    StaffAccount.objects.filter(pk=assistant.pk).update(is_active=False)
    assert ask(shop_a, "n").agent_id == owner.pk


def test_offline_routing_spreads_evenly_over_the_list(shop_a: Shop, make_agent: Agent) -> None:
    settings_of(shop_a, offline_routing=True)
    listed = [make_agent(f"夜班{i}", status="offline", offline_routing=True) for i in range(3)]
    make_agent("not listed", status="offline")
    convs = [ask(shop_a, str(i)) for i in range(9)]
    assert Counter(c.agent_id for c in convs) == {s.pk: 3 for s in listed}


# --- batches: one router routes every waiting arrival ---------------------------------------------------


def waiting(shop: Shop, count: int) -> list[Conversation]:
    """Arrivals recorded but not routed yet, as request_human leaves them before routing."""
    return [
        Conversation.objects.create(
            shop=shop, buyer=factories.buyer(shop, f"w{i}", f"买家{i}"), state="routing"
        )
        for i in range(count)
    ]


def test_a_batch_counts_the_seats_it_gives_as_it_goes(
    shop_a: Shop, make_agent: Agent, owner: StaffAccount
) -> None:
    small, large = make_agent("small", 2), make_agent("large", 4)
    convs = waiting(shop_a, 7)
    assert services.route_pending(shop_id=shop_a.pk) == 7
    agents = Counter(
        Conversation.objects.filter(pk__in=[c.pk for c in convs]).values_list("agent_id", flat=True)
    )
    assert agents == {small.pk: 2, large.pk: 4, None: 1}  # filled exactly to each limit, the seventh queued
    assert services.load_matches_open_sessions(shop_a) == []
    # In a batch, each decision sees the seats taken before it: the 2nd decision (large at 1/4 = 75% idle vs
    # small at 100%) goes to small, the trace shows the loads it was made on.
    second = services.routing_trace(convs[1], viewer=owner)[0]
    assert {c["name"]: c["load"] for c in second["candidates"]} in (
        {"small": 0, "large": 1},
        {"small": 1, "large": 0},
    )


def test_stranded_arrivals_are_routed_by_the_beat_task(shop_a: Shop, make_agent: Agent) -> None:
    agent = make_agent("on duty")
    [fresh] = waiting(shop_a, 1)
    assert route_stranded_task.apply().get() == 0  # a live router may still be on it: left alone
    Conversation.objects.filter(pk=fresh.pk).update(created_at=timezone.now() - timedelta(seconds=31))
    assert route_stranded_task.apply().get() == 1
    fresh.refresh_from_db()
    assert (fresh.state, fresh.agent_id) == ("active", agent.pk)


def test_a_queue_no_drain_served_is_served_by_the_beat_task(shop_a: Shop, make_agent: Agent) -> None:
    """A limit raised with no drain after it (the process died between the two) frees seats nobody fills."""
    agent = make_agent("full", max_concurrent=1)
    ask(shop_a, "first")
    queued = ask(shop_a, "second")
    assert queued.state == "queued"
    shop_services.set_reception_limit(actor=agent, staff=agent, limit=2)  # no drain
    assert route_stranded_task.apply().get() == 0  # queued 30 s ago or less: a live drain may be on it
    Conversation.objects.filter(pk=queued.pk).update(queued_at=timezone.now() - timedelta(seconds=31))
    assert route_stranded_task.apply().get() == 1
    queued.refresh_from_db()
    assert (queued.state, queued.agent_id) == ("active", agent.pk)


# --- reply timer, end, auto-end, history -------------------------------------------------------------------


@pytest.mark.usefixtures("buyer_store")
def test_reply_timer_starts_at_assignment_stops_at_reply_restarts_on_buyer_message(
    shop_a: Shop, make_agent: Agent
) -> None:
    agent = make_agent("timer")
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        conv = ask(shop_a, "b")
        assert conv.waiting_since == start
        clock.shift(40)
        services.post_agent_message(agent=agent, conversation=conv, text="您好")
        conv.refresh_from_db()
        assert conv.waiting_since is None and conv.first_response_seconds == pytest.approx(40)
        clock.shift(100)
        services.post_buyer_message(buyer=conv.buyer, text="什么时候发货")
        clock.shift(10)
        services.post_buyer_message(buyer=conv.buyer, text="？")
        clock.shift(20)
        services.post_agent_message(agent=agent, conversation=conv, text="今天发货")
    delays = list(
        ReplyDelay.objects.filter(conversation=conv).order_by("pk").values_list("seconds", "is_first")
    )
    assert delays == [(pytest.approx(40), True), (pytest.approx(30), False)]


def test_end_frees_the_seat_and_ending_twice_is_refused(shop_a: Shop, make_agent: Agent) -> None:
    agent = make_agent("a", 1)
    conv = ask(shop_a, "b")
    assert services.agent_state(agent).load == 1
    services.end_conversation(conversation=conv, reason="agent", by=agent)
    assert services.agent_state(agent).load == 0
    with pytest.raises(Conflict):
        services.end_conversation(conversation=conv, reason="agent", by=agent)


def test_auto_end_only_when_the_buyer_was_answered_and_then_silent_for_15_minutes(
    shop_a: Shop, make_agent: Agent
) -> None:
    """Seed 000 §4.1.8: 15 minutes without a buyer message ends the session, but not while the shop's agent
    has not answered the buyer."""
    agent = make_agent("a")
    unanswered, answered, recent = ask(shop_a, "unanswered"), ask(shop_a, "answered"), ask(shop_a, "recent")
    for conv in (answered, recent):
        services.post_agent_message(agent=agent, conversation=conv, text="您好，在的")
    long_ago = timezone.now() - timedelta(minutes=16)
    Conversation.objects.filter(pk=unanswered.pk).update(
        last_buyer_message_at=long_ago, waiting_since=long_ago
    )
    Conversation.objects.filter(pk=answered.pk).update(last_buyer_message_at=long_ago, silent_since=long_ago)
    Conversation.objects.filter(pk=recent.pk).update(  # the buyer wrote long ago; the answer is recent
        last_buyer_message_at=long_ago, silent_since=timezone.now() - timedelta(minutes=14)
    )
    assert auto_end_task.apply().get() == 1
    states = dict(Conversation.objects.filter(shop=shop_a).values_list("pk", "state"))
    assert states == {unanswered.pk: "active", answered.pk: "ended", recent.pk: "active"}
    assert Conversation.objects.get(pk=answered.pk).end_reason == "auto"
    assert services.agent_state(agent).load == 2
    assert services.auto_end_idle() == 0  # idempotent


@pytest.mark.usefixtures("buyer_store")
def test_a_buyer_message_stops_the_auto_end_clock_until_the_next_answer(
    shop_a: Shop, make_agent: Agent
) -> None:
    agent = make_agent("a")
    conv = ask(shop_a, "b")
    services.post_agent_message(agent=agent, conversation=conv, text="在的")
    assert Conversation.objects.get(pk=conv.pk).silent_since is not None
    services.post_buyer_message(buyer=conv.buyer, text="还有个问题")
    assert Conversation.objects.get(pk=conv.pk).silent_since is None  # waiting for an answer: never ended
    services.post_agent_message(agent=agent, conversation=conv, text="请说")
    assert Conversation.objects.get(pk=conv.pk).silent_since is not None


@pytest.mark.usefixtures("buyer_store")
def test_history_is_repliable_for_72_hours_and_a_new_message_starts_a_new_session(
    shop_a: Shop, make_agent: Agent
) -> None:
    agent = make_agent("a")
    conv = ask(shop_a, "b")
    services.end_conversation(conversation=conv, reason="agent")
    services.post_agent_message(agent=agent, conversation=conv, text="补充一下")
    Conversation.objects.filter(pk=conv.pk).update(ended_at=timezone.now() - timedelta(hours=72, seconds=1))
    with pytest.raises(Invalid):
        services.post_agent_message(agent=agent, conversation=conv, text="太晚了")
    message = services.post_buyer_message(buyer=conv.buyer, text="又来了")
    assert message.conversation_id != conv.pk


def test_replying_to_someone_elses_chat_is_forbidden_and_other_shops_404(
    shop_a: Shop, shop_b: Shop, make_agent: Agent
) -> None:
    mine, other = make_agent("mine"), make_agent("other", status="busy")
    conv = ask(shop_a, "b")
    assert conv.agent_id == mine.pk
    with pytest.raises(Forbidden):
        services.post_agent_message(agent=other, conversation=conv, text="hi")
    outsider = make_agent("outsider", shop=shop_b)
    with pytest.raises(NotFound):
        services.post_agent_message(agent=outsider, conversation=conv, text="hi")
    with pytest.raises(Invalid):
        services.post_agent_message(agent=mine, conversation=conv, text="x" * 2001)


# --- transfer ----------------------------------------------------------------------------------------------


def test_transfer_moves_the_seat_refuses_offline_or_full_targets_unless_forced(
    shop_a: Shop, owner: StaffAccount, make_agent: Agent
) -> None:
    a = make_agent("a", 2)
    conv = ask(shop_a, "b")
    full, off = make_agent("full", 1), make_agent("off", status="offline")
    ask(shop_a, "c")  # idle ratio: full (1.0) > a (0.5): full takes it and is now full
    with pytest.raises(Invalid):
        services.transfer(conversation=conv, to_agent=off, by=a)
    with pytest.raises(Invalid):
        services.transfer(conversation=conv, to_agent=full, by=a)
    with pytest.raises(Forbidden):
        services.transfer(conversation=conv, to_agent=full, by=a, force=True)
    services.transfer(conversation=conv, to_agent=full, by=owner, note="VIP", force=True)
    conv.refresh_from_db()
    assert conv.agent_id == full.pk
    assert (services.agent_state(a).load, services.agent_state(full).load) == (0, 2)
    assert conv.transfers.get().note == "VIP"


def test_transfer_to_another_shops_agent_is_404(shop_a: Shop, shop_b: Shop, make_agent: Agent) -> None:
    a = make_agent("a")
    conv = ask(shop_a, "b")
    with pytest.raises(NotFound):
        services.transfer(conversation=conv, to_agent=make_agent("x", shop=shop_b), by=a)


# --- proactive, rating ------------------------------------------------------------------------------------


def test_proactive_session_only_for_buyers_with_an_order_in_30_days(shop_a: Shop, make_agent: Agent) -> None:
    agent = make_agent("a")
    factories.order(shop_a, "ORD-RECENT", "recent", created_at=timezone.now() - timedelta(days=29))
    factories.order(shop_a, "ORD-OLD", "old", created_at=timezone.now() - timedelta(days=31))
    found = services.find_proactive_buyers(shop=shop_a, query="ORD-RECENT")
    assert [b.platform_id for b in found] == ["recent"]
    assert services.find_proactive_buyers(shop=shop_a, query="ORD-OLD") == []
    conv = services.start_proactive(agent=agent, buyer=found[0])
    assert (conv.state, conv.agent_id, conv.proactive) == ("active", agent.pk, True)
    with pytest.raises(Invalid):
        services.start_proactive(agent=agent, buyer=Buyer.objects.get(platform_id="old"))


def test_rating_once_per_session_changeable_and_thanks_the_agent(shop_a: Shop, make_agent: Agent) -> None:
    agent = make_agent("小美")
    conv = ask(shop_a, "b")
    services.invite_rating(agent=agent, conversation=conv)
    services.rate(buyer=conv.buyer, conversation=conv, stars=3)
    _rating, thanks = services.rate(buyer=conv.buyer, conversation=conv, stars=5)
    assert conv.__class__.objects.get(pk=conv.pk).rating.stars == 5
    assert "小美" in thanks
    with pytest.raises(Invalid):
        services.rate(buyer=conv.buyer, conversation=conv, stars=0)


def test_a_chat_can_be_rated_until_a_day_after_it_ended(shop_a: Shop, make_agent: Agent) -> None:
    make_agent("小美")
    conv = ask(shop_a, "b")
    ended = services.end_conversation(conversation=conv, reason="agent")
    assert services.rating_target(conv.buyer) == ended and ended.ended_at is not None
    with time_machine.travel(ended.ended_at + services.RATING_WINDOW, tick=False):
        rating, _thanks = services.rate(buyer=conv.buyer, conversation=ended, stars=4)
        assert (rating.stars, rating.agent_id) == (4, conv.agent_id)
    with time_machine.travel(ended.ended_at + services.RATING_WINDOW + timedelta(seconds=1), tick=False):
        assert services.rating_target(conv.buyer) is None
        with pytest.raises(Conflict):
            services.rate(buyer=conv.buyer, conversation=ended, stars=1)
    assert Rating.objects.get(conversation=conv).stars == 4


@pytest.mark.usefixtures("buyer_store")
def test_only_a_chat_an_agent_served_can_be_rated(shop_a: Shop) -> None:
    buyer = factories.buyer(shop_a, "b", "买家b")
    conv = services.post_buyer_message(buyer=buyer, text="在吗").conversation  # with the robot: no agent
    assert (conv.state, conv.agent_id) == ("robot", None)
    assert services.rating_target(conv.buyer) is None
    with pytest.raises(Conflict):
        services.rate(buyer=conv.buyer, conversation=conv, stars=5)


@pytest.mark.usefixtures("buyer_store")
def test_a_resent_message_is_stored_once_and_changes_no_timer(shop_a: Shop, make_agent: Agent) -> None:
    agent = make_agent("a")
    conv = ask(shop_a, "b")
    first = services.post_agent_message(agent=agent, conversation=conv, text="您好", client_msg_id="m1")
    services.post_buyer_message(buyer=conv.buyer, text="在吗", client_msg_id="b1")
    again = services.post_agent_message(agent=agent, conversation=conv, text="您好", client_msg_id="m1")
    assert again.pk == first.pk
    assert ReplyDelay.objects.filter(conversation=conv).count() == 1
    conv.refresh_from_db()
    assert conv.waiting_since is not None  # still waiting: the resend was not a reply
    assert services.post_buyer_message(buyer=conv.buyer, text="在吗", client_msg_id="b1").seq == 2
    assert conv.messages.count() == 2


def test_another_shop_cannot_end_a_conversation(
    shop_a: Shop, outsider: StaffAccount, make_agent: Agent
) -> None:
    make_agent("a")
    conv = ask(shop_a, "b")
    with pytest.raises(NotFound):
        services.end_conversation(conversation=conv, reason="agent", by=outsider)
    conv.refresh_from_db()
    assert conv.state == "active"


# --- buyer messages in batches (group commit) --------------------------------------------------------------


@pytest.mark.usefixtures("buyer_store")
def test_a_batch_follows_the_rules_of_single_messages_in_order(shop_a: Shop, make_agent: Agent) -> None:
    agent = make_agent("a")
    first, second = ask(shop_a, "b1"), ask(shop_a, "b2")
    services.post_agent_message(agent=agent, conversation=first, text="您好")  # stops the reply timer
    newcomer = factories.buyer(shop_a, "b3", "新买家")
    send = services.BuyerSend
    results = services.post_buyer_messages(
        [
            send(first.buyer, "一", "x1"),
            send(second.buyer, "二", "y1"),
            send(first.buyer, "三", "x2"),
            send(first.buyer, "一", "x1"),  # the same send twice in one batch
            send(second.buyer, "   "),  # empty: its error, the others go on
            send(newcomer, "<script>alert(1)</script>", "z1"),
        ]
    )
    one, two, three, again, empty, new = results
    assert isinstance(empty, Invalid)
    assert [(m.conversation_id, m.seq, m.text) for m in (one, two, three)] == [  # type: ignore[union-attr]
        (first.pk, 2, "一"),
        (second.pk, 1, "二"),
        (first.pk, 3, "三"),
    ]
    assert again is one
    assert list(first.messages.order_by("seq").values_list("seq", "client_msg_id")) == [
        (1, ""),
        (2, "x1"),
        (3, "x2"),
    ]
    first.refresh_from_db()
    assert first.last_seq == 3 and first.waiting_since is not None  # the timer started again
    assert first.waiting_since == first.last_buyer_message_at
    assert new.conversation.buyer_id == newcomer.pk  # type: ignore[union-attr]
    assert new.conversation.state == "robot" and new.text == "<script>alert(1)</script>"  # type: ignore[union-attr]
    # a later batch: resends store nothing, the timer keeps running from the first unanswered message
    later = services.post_buyer_messages([send(first.buyer, "三", "x2"), send(first.buyer, "四", "x3")])
    assert later[0].pk == three.pk and later[1].seq == 4  # type: ignore[union-attr]
    waited_from = first.waiting_since
    first.refresh_from_db()
    assert first.waiting_since == waited_from and first.last_seq == 4


# The event loop's statements are not Django's: tests/routing/test_loopstore.py counts its round trips.
@pytest.mark.parametrize("buyer_store", WORKER_STORES, indirect=True)
def test_a_batch_costs_the_same_queries_for_one_message_or_twenty(
    shop_a: Shop, make_agent: Agent, buyer_store: str
) -> None:
    make_agent("a", max_concurrent=30)
    convs = [ask(shop_a, f"q{i}") for i in range(21)]

    def batch(convs: list[Conversation], tag: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            services.post_buyer_messages([services.BuyerSend(c.buyer, "在吗", f"{tag}{c.pk}") for c in convs])
        return len(ctx.captured_queries)

    assert batch(convs[:1], "a") == batch(convs[1:], "b")
    assert Conversation.objects.filter(last_seq=1).count() == 21


@pytest.mark.usefixtures("buyer_store")
def test_a_message_to_an_offline_agent_goes_back_to_routing_once(shop_a: Shop, make_agent: Agent) -> None:
    gone, online = make_agent("gone"), make_agent("online", status="busy")
    conv = ask(shop_a, "b")
    assert conv.agent_id == gone.pk
    services.set_agent_status(staff=gone, status="offline")
    services.set_agent_status(staff=online, status="online")
    services.post_buyer_messages(
        [services.BuyerSend(conv.buyer, "在吗"), services.BuyerSend(conv.buyer, "人呢")]
    )
    conv.refresh_from_db()
    assert conv.agent_id == online.pk and conv.state == "active"
    assert services.agent_state(gone).load == 0 and services.agent_state(online).load == 1
    assert conv.routing_decisions.count() == 2
    assert list(conv.messages.order_by("seq").values_list("seq", flat=True)) == [1, 2]


@pytest.mark.usefixtures("buyer_store")
def test_a_batch_returns_and_announces_what_it_stored(
    shop_a: Shop, make_agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The returned messages (with their conversations) are the stored rows, and the events say the same:
    each message to the buyer and the agent, and the reply timer to the agent when a message started it."""
    agent = make_agent("a")
    conv = ask(shop_a, "b")
    services.post_agent_message(agent=agent, conversation=conv, text="您好")  # stops the timer
    published: list[tuple[str, Any]] = []
    monkeypatch.setattr(events, "publish", lambda sends: published.extend(sends))
    send = services.BuyerSend
    one, two = services.post_buyer_messages([send(conv.buyer, "一", "k1"), send(conv.buyer, "二", "k2")])
    conv.refresh_from_db()
    for result, seq in ((one, 2), (two, 3)):
        assert isinstance(result, Message)
        stored = Message.objects.get(pk=result.pk)
        assert (result.seq, result.sender) == (seq, "buyer")
        assert (stored.seq, stored.text, stored.created_at) == (result.seq, result.text, result.created_at)
    returned = two.conversation  # type: ignore[union-attr]
    assert (returned.pk, returned.last_seq, returned.waiting_since, returned.state, returned.agent_id) == (
        conv.pk,
        conv.last_seq,
        conv.waiting_since,
        conv.state,
        conv.agent_id,
    )
    assert conv.waiting_since is not None
    kinds = [(group, event.type, getattr(event, "seq", None)) for group, event in published]
    buyer_group, agent_group = events.buyer_group(conv.buyer_id), events.agent_group(agent.pk)
    assert kinds == [
        (buyer_group, "message", 2),
        (agent_group, "message", 2),
        (agent_group, "timer", None),
        (buyer_group, "message", 3),
        (agent_group, "message", 3),
    ]
    assert published[2][1].waiting_since == conv.waiting_since
