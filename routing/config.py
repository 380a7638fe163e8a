"""Routing configuration of a shop: settings (queue order, no-queue mode, new-buyer priority, offline
routing, where chats go when everyone is offline, pool holder and automatic pool draining), agent groups
with their scope, and each agent's group, weight, routing participation
and place on the offline-routing list. Every write here needs the right ``Right.MANAGE_ROUTING``
(``backoffice.access.has_right``: the owner, the administrator and CS-supervisor roles by default, and any
account the owner grants it to).

The one write of ``RoutingSettings`` outside the routing engine, with its rules:
- the queue order is set by the owner only (glossary); sending the current value again is not a change;
- the message-pool holder must be an active staff account of the same shop (another shop's id is a 404,
  like a missing one); ``None`` clears it, so the pool falls back to the owner.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from backoffice.access import Right, require_right
from backoffice.errors import Forbidden, Invalid, NotFound
from backoffice.models import OrderStatus, Product, StaffAccount
from backoffice.validation import json_text_error
from routing.intents import Intent
from routing.models import AgentGroup, AgentState, OfflineMode, QueueOrder, RoutingSettings
from routing.services import configure_agent, lock_routing_settings

FLAGS = (
    "no_queue",
    "new_buyer_priority",
    "offline_routing",
    "owner_routes_in_simple_mode",
    "pool_auto_drain",
)
EDITABLE = frozenset({"queue_order", "offline_mode", "pool_holder_id", *FLAGS})


def update_routing_settings(*, actor: StaffAccount, **changes: Any) -> RoutingSettings:
    """Apply ``changes`` (any of ``EDITABLE``) to the actor's shop; fields not given stay as they are.
    All-or-nothing."""
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        raise Invalid(
            _("Unknown routing settings: %(names)s.") % {"names": ", ".join(unknown)},
            errors=[{"field": name, "message": "unknown"} for name in unknown],
        )
    require_right(actor, Right.MANAGE_ROUTING)
    for flag in FLAGS:
        if flag in changes and not isinstance(changes[flag], bool):
            raise Invalid(_("%(field)s must be true or false.") % {"field": flag}, errors=[{"field": flag}])

    with transaction.atomic():
        settings = lock_routing_settings(actor.shop_id)
        if "queue_order" in changes:
            changes["queue_order"] = _checked_queue_order(actor, settings, changes["queue_order"])
        if "offline_mode" in changes and changes["offline_mode"] not in OfflineMode.values:
            raise Invalid(
                _("The offline mode must be queue or pool."),
                errors=[{"field": "offline_mode", "message": "queue|pool"}],
            )
        if changes.get("pool_holder_id") is not None:
            _check_pool_holder(actor, changes["pool_holder_id"])
        for field, value in changes.items():
            setattr(settings, field, value)
        if changes:
            settings.save(update_fields=[name.removesuffix("_id") for name in changes])
    return settings


def _checked_queue_order(actor: StaffAccount, settings: RoutingSettings, order: Any) -> str:
    if order not in QueueOrder.values:
        raise Invalid(
            _("The queue order must be fifo or lifo."),
            errors=[{"field": "queue_order", "message": "fifo|lifo"}],
        )
    if order != settings.queue_order and not may_change_queue_order(actor):
        raise Forbidden(_("Only the shop owner can change the queue order."))
    return str(QueueOrder(order))


def may_change_queue_order(actor: StaffAccount) -> bool:
    """The queue order is the owner's to choose (glossary); the admin shows it read-only to everyone else."""
    return actor.is_owner


def _check_pool_holder(actor: StaffAccount, holder_id: int) -> None:
    holder = StaffAccount.objects.for_shop(actor.shop).filter(pk=holder_id).first()
    if holder is None:
        raise NotFound(_("No such staff account in this shop."))
    if not holder.is_active:
        raise Invalid(
            _("A disabled account cannot hold the message pool."),
            errors=[{"field": "pool_holder_id", "message": "disabled"}],
        )


ORDER_STATES = {*OrderStatus.values, "none"}


def save_group(*, actor: StaffAccount, group: AgentGroup, products: Iterable[Product] = ()) -> AgentGroup:
    """Create or change a group and its scope. The crowd scope maps a buyer tag to a list of accepted
    values; intents are codes of the built-in set (``routing.intents.Intent``); order states are order
    statuses or "none"; products are the shop's own."""
    require_right(actor, Right.MANAGE_ROUTING)
    if group.pk is not None and group.shop_id != actor.shop_id:
        raise NotFound(_("No such group in this shop."))
    group.shop = actor.shop
    if not group.name.strip():
        raise Invalid(_("A group needs a name."), errors=[{"field": "name"}])
    _check_scope(group)
    products = list(products)
    if any(p.shop_id != actor.shop_id for p in products):
        raise NotFound(_("No such product in this shop."))
    with transaction.atomic():
        group.save()
        group.products.set(products)
    return group


def _check_scope(group: AgentGroup) -> None:
    if (
        not isinstance(group.crowd, dict)
        or not all(
            isinstance(v, list) and all(isinstance(x, str | int) for x in v) for v in group.crowd.values()
        )
        or json_text_error(group.crowd) is not None
    ):
        raise Invalid(
            _('The crowd scope maps a tag to a list of values, e.g. {"level": ["金卡"]}.'),
            errors=[{"field": "crowd"}],
        )
    if not isinstance(group.intents, list) or not all(isinstance(i, str) for i in group.intents):
        raise Invalid(_("The intent scope is a list of intent codes."), errors=[{"field": "intents"}])
    unknown_intents = set(group.intents) - set(Intent.values)
    if unknown_intents:
        raise Invalid(
            _("Unknown intents: %(names)s.") % {"names": ", ".join(sorted(unknown_intents))},
            errors=[{"field": "intents"}],
        )
    unknown = set(group.order_states) - ORDER_STATES if isinstance(group.order_states, list) else {"?"}
    if unknown:
        raise Invalid(
            _("Unknown order states: %(names)s.") % {"names": ", ".join(sorted(map(str, unknown)))},
            errors=[{"field": "order_states"}],
        )


def delete_group(*, actor: StaffAccount, group: AgentGroup) -> None:
    """Its members keep working without a group and its queued chats are served by anyone; deleting the
    last group returns the shop to simple mode."""
    require_right(actor, Right.MANAGE_ROUTING)
    if group.shop_id != actor.shop_id:
        raise NotFound(_("No such group in this shop."))
    group.delete()


def configure_agent_routing(
    *,
    actor: StaffAccount,
    staff: StaffAccount,
    group: AgentGroup | None,
    weight: int,
    routing: bool,
    offline_routing: bool,
) -> AgentState:
    """A supervisor sets an agent's group, weight, routing participation and offline-routing listing."""
    require_right(actor, Right.MANAGE_ROUTING)
    if staff.shop_id != actor.shop_id:
        raise NotFound(_("No such staff account in this shop."))
    return configure_agent(
        staff=staff, group=group, weight=weight, routing=routing, offline_routing=offline_routing
    )
