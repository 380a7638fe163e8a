"""Three races the concurrency rules forbid, each with its interleaving forced (not left to luck), and each
test checking that both sides of the race actually ran: presence expiry against a tab coming back, a
rating invitation against the end of the chat, and the auto-end sweep against a load that drifted. Plus the
beat task that puts drifted loads right."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.db.models import F
from django.utils import timezone

from backoffice.errors import Conflict, Forbidden
from backoffice.models import Shop, StaffAccount
from routing import presence, services, tasks
from routing.models import AgentState, AgentStatus, AgentStatusChange, Conversation, EndReason, Message
from tests.backoffice import factories
from tests.conftest import make_shop

pytestmark = pytest.mark.usefixtures("owner_offline")
Agent = Callable[..., StaffAccount]


@contextmanager
def after_first(sql_part: str, then: Callable[[], object]) -> Iterator[list[str]]:
    """Run ``then`` right after the first query of this thread whose SQL contains ``sql_part`` (once); the
    list yielded records that it ran, with that query's SQL."""
    seen: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        result = execute(sql, params, many, context)
        if not seen and sql_part in sql:
            seen.append(sql)
            then()
        return result

    with connection.execute_wrapper(wrapper):
        yield seen


def chat_with(agent: StaffAccount, shop: Shop, platform_id: str) -> Conversation:
    conv, _decision = services.request_human(buyer=factories.buyer(shop, platform_id, f"买家{platform_id}"))
    assert conv.agent_id == agent.pk
    return conv


# --- presence expiry against a tab coming back -------------------------------------------------------------


def test_a_tab_back_between_the_expiry_scan_and_its_claim_keeps_the_agent_online(
    make_agent: Agent,
) -> None:
    agent = make_agent("小美")
    presence.connected(agent)
    presence.disconnected(agent)
    # The last tab closed a minute and a half ago, by the clock that stamped it (the database's).
    AgentState.objects.filter(staff=agent).update(
        disconnected_at=F("disconnected_at") - timedelta(seconds=90)
    )

    with after_first("connections", lambda: presence.connected(agent)) as scanned:
        expired = presence.expire_presence()

    assert scanned, "the expiry never scanned for gone agents"
    state = AgentState.objects.get(staff=agent)
    assert state.connections == 1, "the tab never came back"
    assert expired == 0
    assert state.status == AgentStatus.ONLINE
    assert not AgentStatusChange.objects.filter(staff=agent, status=AgentStatus.OFFLINE).exists()


def test_expiry_compares_the_database_clock_with_the_database_clock(make_agent: Agent) -> None:
    """The application's clock may run ahead of the database's (another host): an agent whose tab closed a
    moment ago by the database clock is not expired, however late the application thinks it is."""
    agent = make_agent("小美")
    presence.connected(agent)
    presence.disconnected(agent)
    with time_machine.travel(timezone.now() + timedelta(minutes=10), tick=False):
        assert presence.expire_presence() == 0
    AgentState.objects.filter(staff=agent).update(
        disconnected_at=F("disconnected_at") - timedelta(seconds=61)
    )
    assert presence.expire_presence() == 1
    assert AgentState.objects.get(staff=agent).status == AgentStatus.OFFLINE
    assert list(AgentStatusChange.objects.filter(staff=agent).values_list("status", flat=True)) == [
        AgentStatus.ONLINE,
        AgentStatus.OFFLINE,
    ]


# --- a rating invitation against the end of the chat -------------------------------------------------------


def test_a_rating_invitation_for_a_chat_that_ended_meanwhile_is_refused(
    shop_a: Shop, make_agent: Agent
) -> None:
    agent = make_agent("小美")
    conv = chat_with(agent, shop_a, "r1")
    stale = Conversation.objects.get(pk=conv.pk)  # the caller's copy: active

    services.end_conversation(conversation=conv, reason=EndReason.BUYER)  # the other side of the race
    assert Conversation.objects.get(pk=conv.pk).state == "ended"
    assert stale.state == "active"

    with pytest.raises(Conflict):
        services.invite_rating(agent=agent, conversation=stale)
    assert not Message.objects.filter(conversation=conv, card__kind="rating_invite").exists()


def test_a_rating_invitation_is_refused_once_the_chat_moved_to_a_colleague(
    shop_a: Shop, make_agent: Agent
) -> None:
    agent, colleague = make_agent("小美"), make_agent("小林")
    AgentState.objects.filter(staff=colleague).update(status=AgentStatus.OFFLINE)
    conv = chat_with(agent, shop_a, "r2")
    AgentState.objects.filter(staff=colleague).update(status=AgentStatus.ONLINE)
    stale = Conversation.objects.get(pk=conv.pk)
    services.transfer(conversation=conv, to_agent=colleague, by=agent)

    with pytest.raises(Forbidden):
        services.invite_rating(agent=agent, conversation=stale)
    assert not Message.objects.filter(conversation=conv, card__kind="rating_invite").exists()


# --- the auto-end sweep against a load that drifted --------------------------------------------------------


def idle(conv: Conversation) -> None:
    Conversation.objects.filter(pk=conv.pk).update(  # answered, then 16 minutes of buyer silence
        waiting_since=None, silent_since=timezone.now() - timedelta(minutes=16)
    )


def test_the_sweep_survives_a_load_that_drifted_and_ends_every_shops_chats(
    shop_a: Shop, make_agent: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    shop_b = make_shop("鹿鸣数码专营店", "王鸣", "owner_b2")
    services.set_agent_status(staff=StaffAccount.objects.get(shop=shop_b, role="owner"), status="offline")
    drifted = make_agent("小美")
    other = make_agent("阿杰", shop=shop_b)
    mine, theirs = chat_with(drifted, shop_a, "d1"), chat_with(other, shop_b, "d2")
    idle(mine)
    idle(theirs)
    AgentState.objects.filter(staff=drifted).update(load=0)  # drift: one active chat, no seat counted

    with caplog.at_level(logging.WARNING, logger="routing.services.seats"):
        assert services.auto_end_idle() == 2

    assert set(Conversation.objects.filter(pk__in=[mine.pk, theirs.pk]).values_list("state", flat=True)) == {
        "ended"
    }
    assert AgentState.objects.get(staff=drifted).load == 0
    assert AgentState.objects.get(staff=other).load == 0
    assert any(f"agent {drifted.pk}" in record.getMessage() for record in caplog.records)


def test_the_beat_task_puts_drifted_loads_back_to_the_open_chats(
    shop_a: Shop, make_agent: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    agent, idle_agent = make_agent("小美"), make_agent("小林")
    AgentState.objects.filter(staff=idle_agent).update(status=AgentStatus.OFFLINE)
    chat_with(agent, shop_a, "c1")
    AgentState.objects.filter(staff=agent).update(load=4)
    AgentState.objects.filter(staff=idle_agent).update(load=2)
    assert services.load_matches_open_sessions(shop_a) != []

    with caplog.at_level(logging.WARNING, logger="routing.services.seats"):
        assert tasks.reconcile_loads() == 2
    assert services.load_matches_open_sessions(shop_a) == []
    assert AgentState.objects.get(staff=agent).load == 1
    assert len([r for r in caplog.records if "drifted" in r.getMessage()]) == 2
    assert tasks.reconcile_loads() == 0  # idempotent
