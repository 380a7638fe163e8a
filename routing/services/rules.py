"""The pure selection rules of routing: no database, no clock. Which groups take a buyer, which agents may
take a chat, and which of them wins. Tested with the seeds' own examples (tests/routing/test_rules.py)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from routing.models import AgentGroup, AgentStatus, DecisionRule

_rng = random.SystemRandom()


@dataclass
class Candidate:
    """An agent as routing sees it: seats, weight and whether they may take a chat now."""

    staff_id: int
    name: str
    load: int
    max: int
    weight: int
    group_id: int | None
    status: str = AgentStatus.ONLINE
    routing: bool = True
    can_chat: bool = True  # an active account with IM permission
    is_owner: bool = False
    offline_listed: bool = False

    @property
    def online(self) -> bool:
        return self.status == AgentStatus.ONLINE

    @property
    def routable(self) -> bool:
        """Online, taking part in routing and allowed to chat."""
        return self.online and self.routing and self.can_chat

    @property
    def present(self) -> bool:
        """Online or busy (忙碌: at the desk, taking no new chats for now), taking part in routing and allowed
        to chat: a chat for them queues until they can take it, it does not go the offline way."""
        return self.status != AgentStatus.OFFLINE and self.routing and self.can_chat

    @property
    def idle_ratio(self) -> float:
        """空闲率 = (max - current) / max; negative when over the limit."""
        return (self.max - self.load) / self.max

    @property
    def share(self) -> float:
        """load / (max x weight): how full the agent is for their weight; the lowest takes the next chat."""
        return self.load / (self.max * self.weight)

    def trace(self) -> list[int]:
        """The compact trace entry (see ``RoutingDecision.candidates``)."""
        return [self.staff_id, self.load, self.max, self.weight]


def pick_agent(candidates: list[Candidate], rng: random.Random | None = None) -> Candidate | None:
    """The lowest ``load / (max x weight)`` wins; ties are drawn at random.

    One rule for both seeds' rules: with equal weights it is exactly the highest idle ratio, since
    ``load / max = 1 - idle ratio`` (seed: A 2 of 10 = 80% idle vs B 3 of 30 = 90% idle -> B); with
    equal limits, weights 3 and 1 get 3 and 1 of every 4 chats while chats are open
    (权重值越大的客服，分给他的人越多).
    """
    if not candidates:
        return None
    best = min(c.share for c in candidates)
    return (rng or _rng).choice([c for c in candidates if abs(c.share - best) < 1e-9])


def spread_evenly(listed: list[Candidate], rng: random.Random | None = None) -> Candidate:
    """Offline routing: the listed agent with the fewest chats, a random one among ties."""
    fewest = min(a.load for a in listed)
    return (rng or _rng).choice([a for a in listed if a.load == fewest])


def routable(
    agents: dict[int, Candidate], *, group_ids: set[int] | None, include_owner: bool, present: bool = False
) -> list[Candidate]:
    """Online routing agents that may chat (``present``: online or busy), of the given groups (None: any
    group). The owner takes part in simple mode only when the shop keeps the default
    (owner_routes_in_simple_mode)."""
    return [
        a
        for a in agents.values()
        if (a.present if present else a.routable)
        and (a.group_id in group_ids if group_ids is not None else include_owner or not a.is_owner)
    ]


def pool_of(
    agents: dict[int, Candidate], *, group_ids: set[int] | None, include_owner: bool, present: bool = False
) -> tuple[list[Candidate], bool]:
    """The routable (``present``: online or busy) agents of the chat's groups; when those have nobody, any
    other such agent (Taobao: 其他任一在线客服). Also whether that fallback was taken."""
    pool = routable(agents, group_ids=group_ids, include_owner=include_owner, present=present)
    if pool or group_ids is None:
        return pool, False
    return routable(agents, group_ids=None, include_owner=include_owner, present=present), True


@dataclass
class BuyerContext:
    tags: dict[str, Any]
    product_id: int | None
    intent: str
    order_state: str


class GroupRule(StrEnum):
    """How the groups of a chat were chosen: the first half of a ``DecisionRule``."""

    CROWD = "group_by_crowd"
    PRODUCT = "group_by_product"
    INTENT = "group_by_intent"
    ORDER_STATE = "group_by_order_state"
    DEFAULT = "group_default"
    SIMPLE = "simple_mode"
    ANY_ONLINE = "any_online_agent"


class Pick(StrEnum):
    """How the agent was chosen among the pool: the second half of a ``DecisionRule``."""

    IDLE_RATIO = "idle_ratio"
    NO_QUEUE = "no_queue"
    ALL_FULL = "all_full"


def decision_rule(group_rule: GroupRule, pick: Pick) -> DecisionRule:
    """The stored rule of an automatic routing decision (every pair is a member of ``DecisionRule``)."""
    return DecisionRule(f"{group_rule}/{pick}")


SCOPE_PRIORITY = [GroupRule.CROWD, GroupRule.PRODUCT, GroupRule.INTENT, GroupRule.ORDER_STATE]


def _matches(group: AgentGroup, dimension: GroupRule, ctx: BuyerContext, product_scope: set[int]) -> bool:
    if dimension == GroupRule.CROWD:
        return bool(group.crowd) and all(
            str(ctx.tags.get(key)) in {str(v) for v in values} for key, values in group.crowd.items()
        )
    if dimension == GroupRule.PRODUCT:
        return ctx.product_id is not None and ctx.product_id in product_scope
    if dimension == GroupRule.INTENT:
        return bool(ctx.intent) and ctx.intent in group.intents
    return ctx.order_state in group.order_states


def select_groups(
    groups: list[AgentGroup], scopes: dict[int, set[int]], ctx: BuyerContext
) -> tuple[list[AgentGroup], GroupRule]:
    """Regular mode: the first scope dimension (crowd > product > intent > order state) that some group
    matches decides; without a match, groups without any scope take the chat, else all groups. ``scopes``
    holds each group's product ids."""
    if not groups:
        return [], GroupRule.SIMPLE
    for dimension in SCOPE_PRIORITY:
        matching = [g for g in groups if _matches(g, dimension, ctx, scopes[g.pk])]
        if matching:
            return matching, dimension
    unscoped = [g for g in groups if not (g.crowd or scopes[g.pk] or g.intents or g.order_states)]
    return (unscoped or groups), GroupRule.DEFAULT
