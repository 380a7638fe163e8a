"""Routing settings of a shop (queue order, no-queue mode, new-buyer priority, offline routing, pool holder).

The one write of ``RoutingSettings`` outside the routing engine, with its rules:
- the actor needs the right ``backoffice.manage_routing`` (owner, administrator and CS supervisor roles have
  it, and an owner may grant it to any account);
- the queue order is set by the owner only (glossary); sending the current value again is not a change;
- the message-pool holder must be an active staff account of the same shop (another shop's id is a 404,
  like a missing one); ``None`` clears it, so the pool falls back to the owner.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from backoffice.errors import Forbidden, Invalid, NotFound
from backoffice.models import StaffAccount
from routing.models import QueueOrder, RoutingSettings
from routing.services import routing_settings

MANAGE_ROUTING = "backoffice.manage_routing"
FLAGS = ("no_queue", "new_buyer_priority", "offline_routing")
EDITABLE = frozenset({"queue_order", "pool_holder_id", *FLAGS})


def update_routing_settings(*, actor: StaffAccount, **changes: Any) -> RoutingSettings:
    """Apply ``changes`` (any of queue_order, no_queue, new_buyer_priority, offline_routing, pool_holder_id)
    to the actor's shop; fields not given stay as they are. All-or-nothing."""
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        raise Invalid(
            _("Unknown routing settings: %(names)s.") % {"names": ", ".join(unknown)},
            errors=[{"field": name, "message": "unknown"} for name in unknown],
        )
    if not actor.is_active or MANAGE_ROUTING not in actor.permission_names():
        raise Forbidden(_("Missing right: %(perm)s") % {"perm": MANAGE_ROUTING})

    for flag in FLAGS:
        if flag in changes and not isinstance(changes[flag], bool):
            raise Invalid(_("%(field)s must be true or false.") % {"field": flag}, errors=[{"field": flag}])

    with transaction.atomic():
        routing_settings(actor.shop)  # created with the defaults on first use
        settings = RoutingSettings.objects.select_for_update().get(shop_id=actor.shop_id)

        if "queue_order" in changes:
            order = changes["queue_order"]
            if order not in QueueOrder.values:
                raise Invalid(
                    _("The queue order must be fifo or lifo."),
                    errors=[{"field": "queue_order", "message": "fifo|lifo"}],
                )
            if order != settings.queue_order and not actor.is_owner:
                raise Forbidden(_("Only the shop owner can change the queue order."))
            changes["queue_order"] = str(QueueOrder(order))

        if changes.get("pool_holder_id") is not None:
            holder = StaffAccount.objects.for_shop(actor.shop).filter(pk=changes["pool_holder_id"]).first()
            if holder is None:
                raise NotFound(_("No such staff account in this shop."))
            if not holder.is_active:
                raise Invalid(
                    _("A disabled account cannot hold the message pool."),
                    errors=[{"field": "pool_holder_id", "message": "disabled"}],
                )

        for field, value in changes.items():
            setattr(settings, field, value)
        if changes:
            settings.save(update_fields=[name.removesuffix("_id") for name in changes])
    return settings
