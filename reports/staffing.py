"""The hourly report (每小时报表) of one local day and the staffing recommendation beside it.

Hourly report, per local hour of the day: consultations (sessions started in the hour in which the buyer
wrote), human receptions (chats agents received in the hour: assignments, pulls, transfers in), human
sessions (sessions started in the hour that an agent held) and agents online (agents online at any moment of
the hour, from the recorded status changes). One day is small: read from routing's tables directly.

Staffing: Erlang C. Chats that reach a human arrive at ``rate`` per hour in an hour of the day (the mean over
the last ``weeks`` weeks of that hour's human sessions), each holds a seat for the average handling time
``aht`` (the average session length: assignment to end, over the same weeks). An agent serves up to
``concurrent`` chats at once, so ``agents`` agents are ``agents x concurrent`` servers of one M/M/c queue
whose service time is the measured one (which already includes the slowdown of serving several buyers at
once). The probability that a chat waits is Erlang C; the share answered within ``t`` seconds is
``1 - C x exp(-(servers - load) x t / aht)``. The recommendation is the fewest agents whose share reaches the
target 3-minute rate.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from backoffice.models import Shop
from reports import kpis
from routing.models import (
    AgentState,
    AgentStatus,
    AgentStatusChange,
    Conversation,
    DecisionOutcome,
    Message,
    RoutingDecision,
    SenderKind,
)

HOURS = range(24)
MAX_AGENTS = 500


def erlang_c(servers: int, load: float) -> float:
    """The probability that an arrival waits (Erlang C) with ``servers`` servers and ``load`` erlangs;
    1 when the queue is unstable (load >= servers). Computed through the Erlang B recursion (stable for
    hundreds of servers)."""
    if load <= 0:
        return 0.0
    if servers <= load:
        return 1.0
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return servers * b / (servers - load * (1 - b))


def service_level(servers: int, load: float, aht: float, within: float) -> float:
    """The share of arrivals answered within ``within`` seconds (``aht`` the mean handling time, seconds)."""
    if load <= 0:
        return 1.0
    if servers <= load:
        return 0.0
    return 1 - erlang_c(servers, load) * math.exp(-(servers - load) * within / aht)


def agents_needed(
    *, rate: float, aht: float, concurrent: int, target: float, within: float = kpis.SLOW_SECONDS
) -> int:
    """The fewest agents (each serving up to ``concurrent`` chats) answering ``target`` of the chats that
    arrive at ``rate`` per hour within ``within`` seconds; 0 when nothing arrives."""
    load = rate * aht / 3600
    if load <= 0:
        return 0
    for agents in range(1, MAX_AGENTS + 1):
        if service_level(agents * concurrent, load, aht, within) >= target:
            return agents
    return MAX_AGENTS


@dataclass(frozen=True)
class Hour:
    hour: int
    consultations: int
    receptions: int
    human_sessions: int
    agents_online: int
    arrivals_per_hour: float = 0.0
    recommended: int = 0


def hourly(shop: Shop, day: date) -> list[Hour]:
    """The hourly report of one local day."""
    tz = shop.zone
    start, end = kpis.day_bounds(shop, day, day)
    sessions = Conversation.objects.for_shop(shop).filter(created_at__gte=start, created_at__lt=end)
    wrote = Exists(Message.objects.filter(conversation=OuterRef("pk"), sender=SenderKind.BUYER))
    consultations: Counter[int] = Counter()
    human: Counter[int] = Counter()
    for created, agent_id, buyer_wrote in sessions.annotate(wrote=wrote).values_list(
        "created_at", "agent_id", "wrote"
    ):
        hour = timezone_hour(created, tz)
        consultations[hour] += buyer_wrote
        human[hour] += agent_id is not None
    receptions: Counter[int] = Counter(
        timezone_hour(moment, tz)
        for moment in RoutingDecision.objects.filter(
            conversation__shop=shop,
            created_at__gte=start,
            created_at__lt=end,
            outcome=DecisionOutcome.ASSIGNED,
            winner__isnull=False,
        ).values_list("created_at", flat=True)
    )
    online = online_per_hour(shop, start, end)
    return [Hour(h, consultations[h], receptions[h], human[h], len(online.get(h, ()))) for h in HOURS]


def timezone_hour(moment: datetime, tz: tzinfo) -> int:
    return timezone.localtime(moment, tz).hour


def online_per_hour(shop: Shop, start: datetime, end: datetime) -> dict[int, set[int]]:
    """Local hour -> the agents online at any moment of it."""
    tz = shop.zone
    before = (
        AgentStatusChange.objects.filter(staff=OuterRef("staff_id"), at__lt=start)
        .order_by("-at", "-pk")
        .values("status")[:1]
    )
    timeline: dict[int, list[tuple[datetime, str]]] = {
        staff_id: [(start, status or AgentStatus.OFFLINE)]
        for staff_id, status in AgentState.objects.for_shop(shop)
        .annotate(before=Subquery(before))
        .values_list("staff_id", "before")
    }
    for staff_id, status, moment in (
        AgentStatusChange.objects.for_shop(shop)
        .filter(at__gte=start, at__lt=end)
        .order_by("at", "pk")
        .values_list("staff_id", "status", "at")
    ):
        timeline.setdefault(staff_id, [(start, AgentStatus.OFFLINE)]).append((moment, status))
    result: dict[int, set[int]] = {}
    for staff_id, points in timeline.items():
        for (begin, status), (finish, _next) in zip(points, [*points[1:], (end, "")], strict=True):
            if status != AgentStatus.ONLINE or finish <= begin:
                continue
            moment = begin
            while moment < finish:
                local = moment.astimezone(tz)
                result.setdefault(local.hour, set()).add(staff_id)
                moment = (local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)).astimezone(
                    tz
                )
    return result


@dataclass(frozen=True)
class Staffing:
    weeks: int
    aht: float | None  # seconds
    concurrent: int
    target: float
    hours: list[Hour]


def recommend(shop: Shop, day: date, *, weeks: int = 4, concurrent: int = 3, target: float = 0.9) -> Staffing:
    """The hourly report of ``day`` with, per hour, the mean human arrivals of that hour over the ``weeks``
    weeks before ``day`` and the agents Erlang C recommends for them."""
    first = day - timedelta(days=7 * weeks)
    last = day - timedelta(days=1)
    start, end = kpis.day_bounds(shop, first, last)
    tz = shop.zone
    human = Conversation.objects.for_shop(shop).filter(
        created_at__gte=start, created_at__lt=end, agent__isnull=False
    )
    arrivals: Counter[int] = Counter(timezone_hour(m, tz) for m in human.values_list("created_at", flat=True))
    facts = kpis.total(kpis.session_facts(shop, start, end).values())
    aht = kpis.ratio(facts.session_seconds, facts.ended_human_sessions)
    days = (last - first).days + 1
    hours = []
    for row in hourly(shop, day):
        rate = arrivals[row.hour] / days
        needed = agents_needed(rate=rate, aht=aht, concurrent=concurrent, target=target) if aht else 0
        hours.append(
            Hour(
                row.hour,
                row.consultations,
                row.receptions,
                row.human_sessions,
                row.agents_online,
                round(rate, 2),
                needed,
            )
        )
    return Staffing(weeks, aht, concurrent, target, hours)
