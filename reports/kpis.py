"""Every KPI of the reports, defined once: the facts they are computed from (``Facts``, additive sums per
local day, agent and group), how those facts are read from what routing stores (``session_facts``,
``status_facts``) and the KPIs themselves (``KPIS``: a name, the definition the page shows, the formula).
The rollups (``reports.rollups``) store these same facts per day; the pages only ever sum facts and apply
``KPIS``, so a figure means the same on every page, in every export and in the benchmark.

Attribution, the rules behind every figure:
- A session's figures belong to the local day (the shop's time zone, ``Shop.zone``) it started on,
  whatever day it ended: a range counts the sessions that started in it, each once.
- Per agent: session figures (human session, end, rating, invitation, queue) go to the session's agent (the
  last one, after transfers); a reply's delay to the agent who replied; a reception to the agent who
  received the chat; a transfer to the agent who handed it away. Per group: the session's group.
- Status time (online, busy) goes to the day it was spent, split at local midnight, and to the agent's
  current group.

Reply rounds (三分钟回复率, 平均响应时间) use the delays routing stores (``ReplyDelay``), which hold only
human time: the reply timer starts when a human is assigned (robot and queue time never count) or at the first
buyer message the agent has not answered, and stops at the agent's reply. The edges:
- consecutive buyer messages are one round, timed from the first of them;
- a transfer in the middle of a round does not restart it: the round counts for the agent who answers, for
  the whole wait since the round started (the buyer waited all along);
- a round that starts while the agent is offline counts like any other (the buyer waited just the same);
  a chat that goes back to routing because its agent went offline starts a new round at its next assignment;
- a round still unanswered when the session ends counts as a miss (not answered within 3 minutes) when it
  had lasted 3 minutes or more by the end, and is left out when the session ended sooner (nobody could
  tell); it has no delay, so it is not in the average response time;
- a reply to a history session (after the end) answers no round: it is in no figure.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from django.db import connection
from django.db.models import BooleanField, Case, Max, OuterRef, Q, Subquery, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from backoffice.models import Shop
from routing.models import (
    AgentState,
    AgentStatus,
    AgentStatusChange,
    Conversation,
    ConversationState,
    DecisionOutcome,
    EndReason,
    Message,
    Rating,
    ReplyDelay,
    RoutingDecision,
    SenderKind,
    Transfer,
)

SLOW_SECONDS = 180  # the 3 minutes of the 3-minute response rate
SATISFIED_STARS = 4  # 4 and 5 stars are "satisfied"

Key = tuple[date, int | None, int | None]  # local day, agent id, group id


def day_bounds(shop: Shop, first: date, last: date) -> tuple[datetime, datetime]:
    """The instants [start, end) of the local days ``first`` to ``last`` inclusive."""
    tz = shop.zone
    start = datetime.combine(first, time.min, tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)
    return start, end


def local_day(moment: datetime, tz: tzinfo) -> date:
    return timezone.localtime(moment, tz).date()


@dataclass
class Facts:
    """Additive sums; every KPI is a formula over them (``KPIS``). ``queue_waits``: whole seconds -> count."""

    consultations: int = 0
    robot_sessions: int = 0
    robot_resolved: int = 0
    handoffs: int = 0
    human_sessions: int = 0
    receptions: int = 0
    proactive: int = 0
    rounds: int = 0
    rounds_within_3m: int = 0
    unanswered_rounds: int = 0
    first_responses: int = 0
    ended_human_sessions: int = 0
    queue_served: int = 0
    abandoned: int = 0
    ratings: int = 0
    satisfied: int = 0
    invited: int = 0
    transfers: int = 0
    auto_ended: int = 0
    agent_ended: int = 0
    rated_1: int = 0  # ratings per star: the rating distribution
    rated_2: int = 0
    rated_3: int = 0
    rated_4: int = 0
    rated_5: int = 0
    reply_seconds: float = 0.0
    first_response_seconds: float = 0.0
    session_seconds: float = 0.0
    queue_wait_seconds: float = 0.0
    online_seconds: float = 0.0
    busy_seconds: float = 0.0
    queue_waits: Counter[int] = field(default_factory=Counter)

    def add(self, other: Facts) -> Facts:
        mine, theirs = self.__dict__, other.__dict__
        for name in SUM_NAMES:
            mine[name] += theirs[name]
        if other.queue_waits:
            self.queue_waits.update(other.queue_waits)
        return self

    def sums(self) -> dict[str, float]:
        """The numeric sums by name (what a ``DailyFacts`` row stores beside ``queue_waits``)."""
        return {name: self.__dict__[name] for name in SUM_NAMES}


SUM_NAMES = tuple(f.name for f in fields(Facts) if f.name != "queue_waits")


def stars(facts: Facts) -> list[int]:
    """The ratings per star, 1 to 5."""
    return [facts.rated_1, facts.rated_2, facts.rated_3, facts.rated_4, facts.rated_5]


def total(facts: Iterable[Facts]) -> Facts:
    result = Facts()
    for item in facts:
        result.add(item)
    return result


# --- reading the facts from routing's tables ----------------------------------------------------------------


CHUNK = 2000  # sessions per set query: their ids are sent as a list (see ``session_facts``)


def session_facts(shop: Shop, start: datetime, end: datetime) -> dict[Key, Facts]:
    """The facts of the sessions that started in [start, end), by (local day, agent, group), read in a few
    set queries per ``CHUNK`` sessions (no query per session).

    The sessions are read first (one range scan of ``conv_shop_created``); the rows that hang off them
    (messages, reply delays, routing decisions, transfers, ratings) are then read by the sessions' ids as a
    literal list, so every one of those queries is an index lookup per session on its conversation index.
    Asked with ``conversation IN (subquery)`` instead, PostgreSQL hash-joins and scans the whole table
    (every message of the shop's history, for today's live part): the cost grew with the history, not
    with the period."""
    tz = shop.zone
    sessions = Conversation.objects.for_shop(shop).filter(created_at__gte=start, created_at__lt=end)
    convs = list(
        sessions.order_by().values(
            "pk",
            "created_at",
            "agent_id",
            "group_id",
            "state",
            "proactive",
            "queued_at",
            "assigned_at",
            "ended_at",
            "end_reason",
        )
    )
    result: dict[Key, Facts] = {}
    for begin in range(0, len(convs), CHUNK):
        _chunk_facts(convs[begin : begin + CHUNK], tz, result)
    return result


def _among(column: Literal["id", "conversation_id"], ids: list[int]) -> Any:
    """A filter ``column`` in ``ids``: on PostgreSQL one array parameter (``= ANY(%s)``: an index lookup per
    id, and no SQL text or Python work growing with the list), elsewhere ``IN``."""
    if connection.vendor == "postgresql":
        # The column is one of two literals, the ids a parameter: nothing from outside reaches the SQL text.
        return RawSQL(f"{column} = ANY(%s::bigint[])", (ids,), output_field=BooleanField())  # noqa: S611
    return Q(**{f"{column}__in": ids})


def _chunk_facts(convs: Sequence[Mapping[str, Any]], tz: tzinfo, result: dict[Key, Facts]) -> None:
    ids = [conv["pk"] for conv in convs]
    last_agent_seq = (
        Message.objects.filter(
            conversation=OuterRef("pk"), sender=SenderKind.AGENT, created_at__lte=OuterRef("ended_at")
        )
        .order_by("-seq")
        .values("seq")[:1]
    )
    pending_from = (
        Message.objects.filter(
            conversation=OuterRef("pk"),
            sender=SenderKind.BUYER,
            seq__gt=Coalesce(OuterRef("last_agent_seq"), Value(0)),
            created_at__lte=OuterRef("ended_at"),
        )
        .order_by("seq")
        .values("created_at")[:1]
    )
    rows = (
        Conversation.objects.filter(_among("id", ids), state=ConversationState.ENDED, agent__isnull=False)
        .annotate(last_agent_seq=Subquery(last_agent_seq))
        .annotate(pending_from=Subquery(pending_from))
        .values_list("pk", "pending_from")
    )
    pending: dict[int, datetime | None] = dict(rows.order_by())
    flags = {
        row["conversation_id"]: row
        for row in Message.objects.filter(_among("conversation_id", ids))
        .values("conversation_id")
        .annotate(
            robot=Max(Case(When(sender=SenderKind.ROBOT, then=1), default=0)),
            wrote=Max(Case(When(sender=SenderKind.BUYER, then=1), default=0)),
            invited=Max(Case(When(sender=SenderKind.SYSTEM, card__kind="rating_invite", then=1), default=0)),
        )
        .order_by()
    }
    no_flags = {"robot": 0, "wrote": 0, "invited": 0}

    def at(key: Key) -> Facts:
        return result.setdefault(key, Facts())

    where: dict[int, tuple[date, int | None]] = {}  # session -> (day, group)
    agents: dict[int, int | None] = {}
    for conv in convs:
        day = local_day(conv["created_at"], tz)
        where[conv["pk"]] = (day, conv["group_id"])
        agents[conv["pk"]] = conv["agent_id"]
        facts = at((day, conv["agent_id"], conv["group_id"]))
        flag = flags.get(conv["pk"], no_flags)
        _count_session(
            facts, conv, wrote=bool(flag["wrote"]), robot=bool(flag["robot"]), invited=bool(flag["invited"])
        )
        if conv["pk"] in pending:
            _count_unanswered_end(facts, conv, pending[conv["pk"]])
    for conv_id, agent_id, seconds, is_first in ReplyDelay.objects.filter(
        _among("conversation_id", ids)
    ).values_list("conversation_id", "agent_id", "seconds", "is_first"):
        day, group = where[conv_id]
        facts = at((day, agent_id, group))
        facts.rounds += 1
        facts.rounds_within_3m += seconds <= SLOW_SECONDS
        facts.reply_seconds += seconds
        if is_first:
            facts.first_responses += 1
            facts.first_response_seconds += seconds
    receptions = RoutingDecision.objects.filter(
        _among("conversation_id", ids), outcome=DecisionOutcome.ASSIGNED, winner__isnull=False
    )
    for conv_id, winner in receptions.values_list("conversation_id", "winner_id"):
        day, group = where[conv_id]
        at((day, winner, group)).receptions += 1
    for conv_id, from_agent in Transfer.objects.filter(_among("conversation_id", ids)).values_list(
        "conversation_id", "from_agent_id"
    ):
        day, group = where[conv_id]
        at((day, from_agent, group)).transfers += 1
    for conv_id, stars in Rating.objects.filter(_among("conversation_id", ids)).values_list(
        "conversation_id", "stars"
    ):
        day, group = where[conv_id]
        _count_rating(at((day, agents[conv_id], group)), stars)


def _count_rating(facts: Facts, stars: int) -> None:
    facts.ratings += 1
    facts.satisfied += stars >= SATISFIED_STARS
    if 1 <= stars <= 5:
        facts.__dict__[f"rated_{stars}"] += 1


def reached_human(conv: Mapping[str, Any]) -> bool:
    """A session that came to routing at some time (queued, assigned, waiting for routing or in the pool)."""
    return (
        conv["agent_id"] is not None
        or conv["assigned_at"] is not None
        or conv["queued_at"] is not None
        or conv["state"] in (ConversationState.ROUTING, ConversationState.QUEUED, ConversationState.POOL)
    )


def _count_session(facts: Facts, conv: Mapping[str, Any], *, wrote: bool, robot: bool, invited: bool) -> None:
    ended = conv["state"] == ConversationState.ENDED
    human = conv["agent_id"] is not None
    facts.consultations += wrote
    facts.proactive += bool(conv["proactive"])
    if robot:
        facts.robot_sessions += 1
        if reached_human(conv):
            facts.handoffs += 1
        elif ended:
            facts.robot_resolved += 1
    if human:
        facts.human_sessions += 1
        facts.invited += invited
    if (
        ended
        and human
        and isinstance(conv["assigned_at"], datetime)
        and isinstance(conv["ended_at"], datetime)
    ):
        facts.ended_human_sessions += 1
        facts.session_seconds += (conv["ended_at"] - conv["assigned_at"]).total_seconds()
    queued, assigned = conv["queued_at"], conv["assigned_at"]
    if isinstance(queued, datetime):
        if isinstance(assigned, datetime) and assigned >= queued:
            wait = (assigned - queued).total_seconds()
            facts.queue_served += 1
            facts.queue_wait_seconds += wait
            facts.queue_waits[int(wait)] += 1
        elif ended:
            facts.abandoned += 1
    facts.auto_ended += conv["end_reason"] == EndReason.AUTO
    facts.agent_ended += conv["end_reason"] == EndReason.AGENT


def _count_unanswered_end(facts: Facts, conv: Mapping[str, Any], pending_from: datetime | None) -> None:
    """A round the agent had not answered when the session ended: a miss when it had lasted 3 minutes."""
    assigned, ended = conv["assigned_at"], conv["ended_at"]
    if pending_from is None or not isinstance(assigned, datetime) or not isinstance(ended, datetime):
        return
    began = max(pending_from, assigned)
    if (ended - began).total_seconds() >= SLOW_SECONDS:
        facts.unanswered_rounds += 1


def status_facts(
    shop: Shop, start: datetime, end: datetime, *, now: datetime | None = None
) -> dict[Key, Facts]:
    """Online and busy seconds per (local day, agent, the agent's group) in [start, end), from the recorded
    status changes (an agent's status lasts until their next change; the current one until ``now``)."""
    tz = shop.zone
    stop = min(end, now or timezone.now())
    if stop <= start:
        return {}
    before = (
        AgentStatusChange.objects.filter(staff=OuterRef("staff_id"), at__lt=start)
        .order_by("-at", "-pk")
        .values("status")[:1]
    )
    agents = AgentState.objects.for_shop(shop).annotate(before=Subquery(before))
    timeline: dict[int, list[tuple[datetime, str]]] = {}
    groups: dict[int, int | None] = {}
    for staff_id, group_id, status in agents.values_list("staff_id", "group_id", "before"):
        groups[staff_id] = group_id
        timeline[staff_id] = [(start, status or AgentStatus.OFFLINE)]
    changes = AgentStatusChange.objects.for_shop(shop).filter(at__gte=start, at__lt=stop)
    for staff_id, status, moment in changes.order_by("at", "pk").values_list("staff_id", "status", "at"):
        timeline.setdefault(staff_id, [(start, AgentStatus.OFFLINE)]).append((moment, status))
    result: dict[Key, Facts] = {}
    for staff_id, points in timeline.items():
        for (begin, status), (finish, _next) in zip(points, [*points[1:], (stop, "")], strict=True):
            if status not in (AgentStatus.ONLINE, AgentStatus.BUSY):
                continue
            for day, seconds in _split_by_day(begin, finish, tz):
                facts = result.setdefault((day, staff_id, groups.get(staff_id)), Facts())
                if status == AgentStatus.ONLINE:
                    facts.online_seconds += seconds
                else:
                    facts.busy_seconds += seconds
    return result


def _split_by_day(begin: datetime, finish: datetime, tz: tzinfo) -> list[tuple[date, float]]:
    parts = []
    while begin < finish:
        day = local_day(begin, tz)
        midnight = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
        upto = min(finish, midnight)
        parts.append((day, (upto - begin).total_seconds()))
        begin = upto
    return parts


def merge(*parts: dict[Key, Facts]) -> dict[Key, Facts]:
    result: dict[Key, Facts] = {}
    for part in parts:
        for key, facts in part.items():
            result.setdefault(key, Facts()).add(facts)
    return result


def raw_facts(shop: Shop, first: date, last: date, *, now: datetime | None = None) -> dict[Key, Facts]:
    """The facts of the local days ``first`` to ``last``, read from routing's tables."""
    start, end = day_bounds(shop, first, last)
    return merge(session_facts(shop, start, end), status_facts(shop, start, end, now=now))


def select(
    facts: dict[Key, Facts], *, agent: int | None = None, group: int | None = None
) -> dict[Key, Facts]:
    """The facts of one agent and/or group (None: any)."""
    return {
        key: value
        for key, value in facts.items()
        if (agent is None or key[1] == agent) and (group is None or key[2] == group)
    }


# --- the KPIs -----------------------------------------------------------------------------------------------


def ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def percentile(counts: Counter[int], share: float) -> float | None:
    """The nearest-rank percentile of a distribution given as value -> count (None when it is empty)."""
    n = sum(counts.values())
    if not n:
        return None
    rank = max(1, math.ceil(share * n))
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return float(value)
    return None  # pragma: no cover (unreachable: the counts add up to n)


@dataclass(frozen=True)
class Kpi:
    code: str
    label: Promise
    definition: Promise
    kind: str  # count, percent, seconds
    value: Callable[[Facts], float | None]


KPIS: tuple[Kpi, ...] = (
    Kpi(
        "consultations",
        _("Consultations"),
        _(
            "Sessions in which the buyer wrote at least one message (a buyer who comes back in a new session "
            "counts again)."
        ),
        "count",
        lambda f: f.consultations,
    ),
    Kpi(
        "robot_sessions",
        _("Robot sessions"),
        _("Sessions in which the robot sent at least one message."),
        "count",
        lambda f: f.robot_sessions,
    ),
    Kpi(
        "robot_resolved",
        _("Resolved by the robot"),
        _("Robot sessions that ended without ever reaching a human (never queued, assigned or in the pool)."),
        "count",
        lambda f: f.robot_resolved,
    ),
    Kpi(
        "handoffs",
        _("Hand-offs to humans"),
        _("Robot sessions that came to routing for a human (queued, assigned or in the message pool)."),
        "count",
        lambda f: f.handoffs,
    ),
    Kpi(
        "human_sessions",
        _("Human sessions"),
        _("Sessions an agent held (its agent, after transfers, is the one counted per agent)."),
        "count",
        lambda f: f.human_sessions,
    ),
    Kpi(
        "receptions",
        _("Human receptions"),
        _("Times an agent received a chat: each assignment, pull from the queue or pool, and transfer in."),
        "count",
        lambda f: f.receptions,
    ),
    Kpi(
        "proactive",
        _("Proactive sessions"),
        _("Sessions an agent opened to a buyer (主动发起会话)."),
        "count",
        lambda f: f.proactive,
    ),
    Kpi(
        "response_rate_3m",
        _("3-minute response rate"),
        _(
            "Reply rounds answered by a human within 3 minutes, out of all rounds: every answered "
            "round, plus the rounds still unanswered at the session's end that had waited 3 minutes or "
            "more. A round starts at the assignment or at the first unanswered buyer message "
            "(consecutive messages are one round) and stops at the agent's reply; robot and queue time "
            "never count; a transfer does not restart it; replies after the end answer no round."
        ),
        "percent",
        lambda f: ratio(f.rounds_within_3m, f.rounds + f.unanswered_rounds),
    ),
    Kpi(
        "avg_response",
        _("Average response time"),
        _(
            "Mean wait of the answered reply rounds (human time only, as in the 3-minute rate); unanswered "
            "rounds have no wait and are left out."
        ),
        "seconds",
        lambda f: ratio(f.reply_seconds, f.rounds),
    ),
    Kpi(
        "first_response",
        _("First response time"),
        _("Mean time from the assignment to the agent's first reply, over sessions with a first reply."),
        "seconds",
        lambda f: ratio(f.first_response_seconds, f.first_responses),
    ),
    Kpi(
        "session_length",
        _("Average session length"),
        _(
            "Mean time from the (last) assignment to the end, over ended human sessions: the human part of a "
            "session, robot time left out."
        ),
        "seconds",
        lambda f: ratio(f.session_seconds, f.ended_human_sessions),
    ),
    Kpi(
        "queue_wait_mean",
        _("Queue wait (mean)"),
        _("Mean time from entering the queue to the assignment, over queued sessions that were assigned."),
        "seconds",
        lambda f: ratio(f.queue_wait_seconds, f.queue_served),
    ),
    Kpi(
        "queue_wait_p90",
        _("Queue wait (p90)"),
        _("The wait that 90% of the assigned queued sessions did not exceed (nearest rank, whole seconds)."),
        "seconds",
        lambda f: percentile(f.queue_waits, 0.9),
    ),
    Kpi(
        "abandonment",
        _("Queue abandonment"),
        _(
            "Queued sessions that ended before an agent was assigned, out of the queued sessions that were "
            "assigned or ended."
        ),
        "percent",
        lambda f: ratio(f.abandoned, f.abandoned + f.queue_served),
    ),
    Kpi(
        "ratings",
        _("Ratings given"),
        _("Human sessions the buyer rated (one rating per session, its latest stars)."),
        "count",
        lambda f: f.ratings,
    ),
    Kpi(
        "satisfied_share",
        _("Satisfied"),
        _("Ratings of 4 or 5 stars, out of all ratings."),
        "percent",
        lambda f: ratio(f.satisfied, f.ratings),
    ),
    Kpi(
        "invitation_rate",
        _("Rating invitation rate"),
        _("Human sessions in which the agent sent a rating invitation, out of human sessions."),
        "percent",
        lambda f: ratio(f.invited, f.human_sessions),
    ),
    Kpi(
        "rating_rate",
        _("Rating rate"),
        _("Human sessions the buyer rated, out of human sessions (invited or not)."),
        "percent",
        lambda f: ratio(f.ratings, f.human_sessions),
    ),
    Kpi(
        "transfers",
        _("Transfers"),
        _("Chats handed to another agent (counted for the agent who handed them away)."),
        "count",
        lambda f: f.transfers,
    ),
    Kpi(
        "auto_ended",
        _("Auto-ended sessions"),
        _("Sessions ended automatically after 15 minutes without a buyer message."),
        "count",
        lambda f: f.auto_ended,
    ),
    Kpi(
        "agent_ended",
        _("Ended by the agent"),
        _("Sessions the agent ended."),
        "count",
        lambda f: f.agent_ended,
    ),
    Kpi(
        "online_time",
        _("Online time"),
        _("Time agents spent online (status changes as recorded; split at local midnight)."),
        "seconds",
        lambda f: f.online_seconds,
    ),
    Kpi(
        "busy_time",
        _("Busy time"),
        _("Time agents spent busy (no new chats)."),
        "seconds",
        lambda f: f.busy_seconds,
    ),
)
KPI_BY_CODE = {kpi.code: kpi for kpi in KPIS}


def evaluate(facts: Facts) -> dict[str, float | None]:
    """Every KPI's value for the facts (None where its denominator is empty)."""
    return {kpi.code: kpi.value(facts) for kpi in KPIS}


def by_agent(facts: dict[Key, Facts]) -> dict[int, Facts]:
    result: dict[int, Facts] = {}
    for (_day, agent, _group), value in facts.items():
        if agent is not None:
            result.setdefault(agent, Facts()).add(value)
    return result


def by_group(facts: dict[Key, Facts]) -> dict[int | None, Facts]:
    result: dict[int | None, Facts] = {}
    for (_day, _agent, group), value in facts.items():
        result.setdefault(group, Facts()).add(value)
    return result


def by_day(facts: dict[Key, Facts]) -> dict[date, Facts]:
    result: dict[date, Facts] = {}
    for (day, _agent, _group), value in facts.items():
        result.setdefault(day, Facts()).add(value)
    return result
