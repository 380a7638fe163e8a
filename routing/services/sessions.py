"""Sessions after routing: proactive chats, transfers, the end (by a person or the 15-minute auto-end)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.errors import Conflict, Forbidden, Invalid, NotFound
from backoffice.models import Buyer, Order, Shop, StaffAccount
from routing import events
from routing.access import require_chatting, require_supervisor
from routing.models import (
    AgentState,
    AgentStatus,
    Conversation,
    ConversationState,
    DecisionOutcome,
    DecisionRule,
    EndReason,
    Transfer,
)
from routing.services.batch import ASSIGN_FIELDS, assign, assigned_event, decide
from routing.services.drain import drain_queue
from routing.services.seats import (
    agent_state,
    locked_open_conversation,
    release_seats,
    require_receiver,
    reserve_seat,
)

AUTO_END_AFTER = timedelta(minutes=15)
PROACTIVE_ORDER_WINDOW = timedelta(days=30)


def find_proactive_buyers(*, shop: Shop, query: str) -> list[Buyer]:
    """Buyers found by order number or nickname who ordered in the last 30 days (主动发起会话)."""
    query = query.strip()
    if not query:
        return []
    since = timezone.now() - PROACTIVE_ORDER_WINDOW
    recent = Order.objects.for_shop(shop).filter(created_at__gte=since)
    by_order = recent.filter(number=query).values("buyer_id")
    by_nick = recent.filter(buyer__nickname__icontains=query).values("buyer_id")
    return list(
        Buyer.objects.for_shop(shop).filter(Q(pk__in=by_order) | Q(pk__in=by_nick)).order_by("nickname")[:20]
    )


def start_proactive(*, agent: StaffAccount, buyer: Buyer) -> Conversation:
    """An agent opens a chat with a buyer who ordered in the last 30 days; uses one of the agent's seats."""
    if buyer.shop_id != agent.shop_id:
        raise NotFound(_("No such buyer in this shop."))
    if not agent.im_enabled:
        raise Forbidden(_("This account has no IM permission."))
    if not Order.objects.filter(
        buyer=buyer, created_at__gte=timezone.now() - PROACTIVE_ORDER_WINDOW
    ).exists():
        raise Invalid(_("Only buyers with an order in the last 30 days can be contacted."))
    with transaction.atomic():
        open_conv = locked_open_conversation(buyer.pk)
        if open_conv is not None and open_conv.state == ConversationState.ACTIVE:
            raise Conflict(
                _("This buyer is already in a chat with %(name)s.")
                % {"name": getattr(open_conv.agent, "display_name", "")}
            )
        agent_state(agent)
        if not reserve_seat(agent.pk, require_online=False):
            raise Invalid(_("You are at your reception limit."))
        now = timezone.now()
        conv = open_conv or Conversation(shop_id=agent.shop_id, buyer=buyer)
        conv.proactive = open_conv is None
        conv.last_buyer_message_at = now
        conv.save()
        assign(conv, agent.pk, now=now)
        conv.waiting_since = None  # nobody is waiting for a reply: the agent speaks first
        conv.silent_since = now  # the 15-minute auto-end clock starts when the agent opens the chat
        conv.save(update_fields=[*ASSIGN_FIELDS, "last_buyer_message_at", "proactive"])
        decide(conv, rule=DecisionRule.PROACTIVE, outcome=DecisionOutcome.ASSIGNED, winner=agent.pk)
        events.publish(assigned_event(conv, DecisionRule.PROACTIVE, agent.display_name))
    return conv


def transfer(
    *,
    conversation: Conversation,
    to_agent: StaffAccount,
    by: StaffAccount,
    note: str = "",
    force: bool = False,
) -> Conversation:
    """Hand an active chat to another online agent of the same shop, with a note; the seat moves with it.
    A full target is refused unless a supervisor forces it."""
    if to_agent.shop_id != by.shop_id or conversation.shop_id != by.shop_id:
        raise NotFound(_("No such agent or conversation in this shop."))
    if len(note) > 200:
        raise Invalid(_("The note is limited to 200 characters."))
    if force:
        require_supervisor(by)
    require_receiver(to_agent)
    with transaction.atomic():
        conv = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conv.state != ConversationState.ACTIVE or conv.agent_id is None:
            raise Conflict(_("Only an active chat can be transferred."))
        if conv.agent_id != by.pk:
            require_supervisor(by)
        else:
            require_chatting(by)
        if conv.agent_id == to_agent.pk:
            raise Invalid(_("The chat is already with that agent."))
        agent_state(to_agent)
        # Lock both agents in staff order, as routers do, so a transfer never deadlocks with a router.
        locked = AgentState.objects.select_for_update().filter(staff_id__in=[conv.agent_id, to_agent.pk])
        target = {a.staff_id: a for a in locked.order_by("staff_id")}[to_agent.pk]
        if target.status != AgentStatus.ONLINE:
            raise Invalid(_("%(name)s is not online.") % {"name": to_agent.display_name})
        if not reserve_seat(to_agent.pk, over_limit=force):
            raise Invalid(_("%(name)s is at their reception limit.") % {"name": to_agent.display_name})
        from_id = conv.agent_id
        release_seats(from_id)
        conv.agent_id = to_agent.pk
        conv.save(update_fields=["agent"])
        Transfer.objects.create(
            conversation=conv, from_agent_id=from_id, to_agent=to_agent, by=by, note=note, forced=force
        )
        decide(
            conv,
            rule=DecisionRule.TRANSFER_FORCED if force else DecisionRule.TRANSFER,
            outcome=DecisionOutcome.ASSIGNED,
            winner=to_agent.pk,
            note=note,
        )
        moved = events.Transferred(
            conversation=conv.pk,
            from_agent_id=from_id,
            to_agent_id=to_agent.pk,
            agent_name=to_agent.display_name,
            note=note,
        )
        events.publish([*events.to_conversation(conv, moved), (events.agent_group(from_id), moved)])
    drain_queue(shop=conv.shop)  # the seat freed by the transfer
    return conv


def end_conversation(
    *, conversation: Conversation, reason: str, by: StaffAccount | None = None
) -> Conversation:
    """End a chat (Esc): to history, seat freed, queue drained. Ending twice is refused."""
    with transaction.atomic():
        conv = Conversation.objects.select_for_update().select_related("shop").get(pk=conversation.pk)
        if conv.state == ConversationState.ENDED:
            raise Conflict(_("This conversation has already ended."))
        if by is not None and conv.shop_id != by.shop_id:
            raise NotFound(_("No such conversation in this shop."))
        if by is not None and conv.agent_id != by.pk:
            require_supervisor(by)
        elif by is not None:
            require_chatting(by)
        if conv.state == ConversationState.ACTIVE and conv.agent_id is not None:
            release_seats(conv.agent_id)
        conv.state = ConversationState.ENDED
        conv.ended_at = timezone.now()
        conv.end_reason = reason
        conv.waiting_since = None
        conv.save(update_fields=["state", "ended_at", "end_reason", "waiting_since"])
        events.publish(events.to_conversation(conv, events.Ended(conversation=conv.pk, by=reason)))
    drain_queue(shop=conv.shop)
    return conv


def auto_end_idle(*, batch: int = 500) -> int:
    """Auto-end (seed 000 §4.1.8): an active chat whose buyer was answered and then sent nothing for 15
    minutes, by the database clock (``silent_since``: the shop's last message to an answered buyer). A buyer
    still waiting for a reply is never ended, however long the agent takes. Rows are claimed with SKIP
    LOCKED and rechecked under the lock, so a buyer message being written (which holds the row) is never
    ended, and two sweeps end each chat once. Seats are given back in staff order; a load that drifted below
    its chats stops at 0 and is logged (``release_seats``) instead of failing the sweep for every shop."""
    ended = 0
    shops: set[int] = set()
    while True:
        with transaction.atomic():
            rows = list(
                Conversation.objects.filter(
                    state=ConversationState.ACTIVE, silent_since__lt=Now() - AUTO_END_AFTER
                )
                .select_for_update(skip_locked=True)
                .values_list("pk", "agent_id", "shop_id", "buyer_id")[:batch]
            )
            if not rows:
                break
            ids = [pk for pk, _a, _s, _b in rows]
            Conversation.objects.filter(pk__in=ids).update(
                state=ConversationState.ENDED,
                ended_at=Now(),
                end_reason=EndReason.AUTO,
                waiting_since=None,
                silent_since=None,
            )
            per_agent: dict[int, int] = {}
            sends: list[tuple[str, events.Event]] = []
            for pk, agent_id, shop_id, buyer_id in rows:
                shops.add(shop_id)
                ended_event = events.Ended(conversation=pk, by=EndReason.AUTO)
                sends.append(events.to_buyer(buyer_id, ended_event))
                if agent_id is not None:
                    per_agent[agent_id] = per_agent.get(agent_id, 0) + 1
                    sends.append((events.agent_group(agent_id), ended_event))
            events.publish(sends)
            for agent_id, count in sorted(per_agent.items()):  # fixed lock order: no deadlock
                release_seats(agent_id, count)
            ended += len(rows)
        if len(rows) < batch:
            break
    for shop in Shop.objects.filter(pk__in=shops).order_by("pk"):
        drain_queue(shop=shop)
    return ended
