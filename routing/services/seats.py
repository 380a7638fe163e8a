"""Seats and the lock order (the order itself is stated once, in the package docstring): the settings lock,
the agent rows, the conversation-row locks of arrivals and messages, one seat taken or given back, and the
loads kept equal to the active chats."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Count, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Greatest
from django.utils.translation import gettext as _

from backoffice.errors import Invalid
from backoffice.models import Role, Shop, StaffAccount
from routing.models import AgentState, AgentStatus, Conversation, ConversationState, RoutingSettings
from routing.services.rules import Candidate

logger = logging.getLogger(__name__)


def routing_settings(shop: Shop) -> RoutingSettings:
    return RoutingSettings.objects.get_or_create(shop=shop)[0]


def lock_routing_settings(shop_id: int) -> RoutingSettings:
    """The shop's settings row (created with the defaults on first use), locked: routers of one shop take
    turns (shops route in parallel), and a settings change waits for the batch in progress."""
    qs = RoutingSettings.objects.select_for_update().filter(shop_id=shop_id)
    settings = qs.first()
    if settings is None:
        RoutingSettings.objects.get_or_create(shop_id=shop_id)
        settings = qs.get()
    return settings


def agent_state(staff: StaffAccount) -> AgentState:
    """The staff account's routing state, created on first use (offline, load 0, weight 1)."""
    return AgentState.objects.get_or_create(staff=staff, defaults={"shop_id": staff.shop_id})[0]


def load_agents(shop_id: int, *, lock: bool = False) -> dict[int, Candidate]:
    """Every agent state of the shop by staff id. With ``lock`` the rows are locked in staff order, the
    order every write touching several agents uses (transfer, the sweep), so routers never deadlock."""
    qs = AgentState.objects.filter(shop_id=shop_id).order_by("staff_id")
    if lock:
        qs = qs.select_for_update(of=("self",))
    rows = qs.values_list(
        "staff_id",
        "staff__display_name",
        "load",
        "staff__max_concurrent",
        "weight",
        "group_id",
        "status",
        "routing",
        "staff__is_active",
        "staff__im_enabled",
        "staff__role",
        "offline_routing",
    )
    agents = {}
    for staff_id, name, load, max_, weight, group_id, status, routing, active, im, role, listed in rows:
        agents[staff_id] = Candidate(
            staff_id,
            name,
            load,
            max_,
            weight,
            group_id,
            status=status,
            routing=routing,
            can_chat=active and im,
            is_owner=role == Role.OWNER,
            offline_listed=listed,
        )
    return agents


def _max_of() -> Subquery:
    """The agent's reception limit, read inside the seat UPDATE: check and increment are one step."""
    return Subquery(StaffAccount.objects.filter(pk=OuterRef("staff_id")).values("max_concurrent")[:1])


def require_receiver(staff: StaffAccount) -> None:
    """A chat handed to an account (a transfer, a message-pool chat) needs it active with IM permission."""
    if not staff.is_active or not staff.im_enabled:
        raise Invalid(_("That account cannot receive chats."))


def reserve_seat(staff_id: int, *, over_limit: bool = False, require_online: bool = True) -> bool:
    """Take one seat; unless ``over_limit``, only while load < max. One UPDATE: race-free."""
    qs = AgentState.objects.filter(staff_id=staff_id)
    if require_online:
        qs = qs.filter(status=AgentStatus.ONLINE)
    if not over_limit:
        qs = qs.filter(load__lt=_max_of())
    return qs.update(load=F("load") + 1) == 1


def release_seats(staff_id: int, count: int = 1) -> None:
    """Give back ``count`` seats of one agent. A load already below ``count`` (drift: it should equal the
    agent's active chats, see ``reconcile_loads``) stops at 0 and is logged, instead of breaking the
    ``load >= 0`` check and the caller's transaction with it."""
    updated = AgentState.objects.filter(staff_id=staff_id, load__gte=count).update(load=F("load") - count)
    if not updated and count:
        drifted = AgentState.objects.filter(staff_id=staff_id).update(load=Greatest(F("load") - count, 0))
        if drifted:
            logger.warning("load of agent %s was below the %d seat(s) released; set to 0", staff_id, count)


def open_for_update(buyer_ids: list[int]) -> QuerySet[Conversation]:
    """The buyers' open (not ended) conversations, to be row-locked in id order (with each agent's routing
    state, unlocked); a buyer has at most one (a unique constraint)."""
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("agent__agent_state")
        .filter(buyer_id__in=buyer_ids)
        .exclude(state=ConversationState.ENDED)
        .order_by("pk")
    )


def locked_open_conversation(buyer_id: int) -> Conversation | None:
    return open_for_update([buyer_id]).first()


def active_counts(shop_id: int) -> dict[int, int]:
    """Staff id -> active conversations, for the shop's agents with any."""
    rows = (
        Conversation.objects.filter(shop_id=shop_id, state=ConversationState.ACTIVE)
        .values_list("agent_id")
        .annotate(n=Count("pk"))
        .values_list("agent_id", "n")
    )
    return {agent_id: n for agent_id, n in rows if agent_id is not None}


def _drifted(loads: dict[int, int], shop_id: int) -> list[tuple[int, int, int]]:
    """Of the agents' loads (staff id -> seats counted), those that differ from the agents' active chats:
    (staff_id, load, active)."""
    active = active_counts(shop_id)
    return [(s, load, active.get(s, 0)) for s, load in loads.items() if load != active.get(s, 0)]


def load_matches_open_sessions(shop: Shop) -> list[tuple[int, int, int]]:
    """Agents whose seat count differs from their active chats: (staff_id, load, active)."""
    loads = AgentState.objects.for_shop(shop).order_by("staff_id").values_list("staff_id", "load")
    return _drifted(dict(loads), shop.pk)


def reconcile_loads(shop_id: int) -> list[tuple[int, int, int]]:
    """Set every agent's load of the shop to their active chats, under the routers' locks (settings row, then
    the agent rows in staff order), so no batch is counting seats meanwhile. Each correction is logged: a
    load that drifted is a bug somewhere. Returns the corrections (staff_id, old load, new load)."""
    with transaction.atomic():
        lock_routing_settings(shop_id)
        agents = load_agents(shop_id, lock=True)
        fixed = _drifted({s: a.load for s, a in agents.items()}, shop_id)
        for staff_id, old, new in fixed:
            AgentState.objects.filter(staff_id=staff_id).update(load=new)
            logger.warning(
                "load of agent %s drifted: %d seat(s) counted, %d active chat(s)", staff_id, old, new
            )
    return fixed


def shop_ids_with_agents() -> list[int]:
    return list(AgentState.objects.values_list("shop_id", flat=True).distinct().order_by("shop_id"))
