"""An agent's own settings as routing sees them: status (every change recorded with its time), reception
limit and routing configuration. Coming online and a raised limit serve the queue at once."""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Now
from django.utils.translation import gettext as _

from backoffice.errors import Forbidden, Invalid, NotFound
from backoffice.models import StaffAccount
from backoffice.services import set_reception_limit as set_staff_reception_limit
from routing import events
from routing.models import AgentGroup, AgentState, AgentStatus, AgentStatusChange
from routing.services.drain import drain_queue
from routing.services.seats import agent_state


def publish_status(staff: StaffAccount, status: str) -> None:
    """Every tab of the agent learns the status and limit, wherever they were changed."""
    events.publish([(events.agent_group(staff.pk), events.Status(status=status, limit=staff.max_concurrent))])


def claim_status(claim: QuerySet[AgentState], staff: StaffAccount, status: str) -> bool:
    """Set ``status`` on the agent's row if ``claim`` (a filter of it) still matches, in one conditional
    UPDATE on the database clock, and record the change with its time for the reports (online and busy
    time, agents online per hour). Whether it changed."""
    with transaction.atomic():
        changed = claim.update(status=status, status_changed_at=Now()) > 0
        if changed:
            AgentStatusChange.objects.create(staff_id=staff.pk, shop_id=staff.shop_id, status=status)
    return changed


def set_agent_status(*, staff: StaffAccount, status: str) -> AgentState:
    """Online / busy / offline. Only online agents receive chats; coming online drains the queue. A change
    is recorded with its time; setting the status it already has changes nothing (its time included)."""
    if status not in AgentStatus.values:
        raise Invalid(_("Unknown status %(status)s.") % {"status": status})
    if status == AgentStatus.ONLINE and not staff.im_enabled:
        raise Forbidden(_("This account has no IM permission."))
    state = agent_state(staff)
    claim_status(AgentState.objects.filter(pk=state.pk).exclude(status=status), staff, status)
    publish_status(staff, status)
    if status == AgentStatus.ONLINE:
        drain_queue(shop=staff.shop)
    state.refresh_from_db()
    return state


def set_reception_limit(*, actor: StaffAccount, staff: StaffAccount, limit: int) -> StaffAccount:
    """The agent's own limit (1 to the shop's cap; the rule is ``backoffice.services.set_reception_limit``);
    a raised limit drains the queue at once. Every way of setting one's limit comes here."""
    staff = set_staff_reception_limit(actor=actor, staff=staff, limit=limit)
    status = agent_state(staff).status
    publish_status(staff, status)
    drain_queue(shop=staff.shop)
    return staff


def configure_agent(
    *,
    staff: StaffAccount,
    group: AgentGroup | None = None,
    weight: int = 1,
    routing: bool = True,
    offline_routing: bool = False,
) -> AgentState:
    """Group membership (at most one group), weight, routing participation and the offline-routing list."""
    if group is not None and group.shop_id != staff.shop_id:
        raise NotFound(_("No such group in this shop."))
    if not 1 <= weight <= 100:
        raise Invalid(_("The weight must be between 1 and 100."))
    state = agent_state(staff)
    AgentState.objects.filter(pk=state.pk).update(
        group=group, weight=weight, routing=routing, offline_routing=offline_routing
    )
    state.refresh_from_db()
    return state
