"""Which conversations an account may read: the one rule for the API, the consumers and the pages.

An account reads the conversations of its shop that it holds or held (it was their agent and transferred
them on), and a supervisor (``is_supervisor``: the right ``Right.MANAGE_ROUTING``, whatever the role) reads
every conversation of its shop. Another shop's conversation does not exist for it (404, like a missing
one); one of its own shop that it may not read is a 403. Acting on a conversation (replying, ending,
transferring) has its own rules in the services.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from backoffice.access import Right, has_right
from backoffice.errors import Forbidden, NotFound
from backoffice.models import StaffAccount
from routing.models import Conversation, Transfer


def is_supervisor(staff: StaffAccount) -> bool:
    """A supervisor of routing: reads every chat of the shop, ends or transfers a colleague's, forces a
    transfer over the limit, hands out message-pool chats. The right decides, not the role."""
    return has_right(staff, Right.MANAGE_ROUTING)


def require_supervisor(staff: StaffAccount) -> None:
    if not is_supervisor(staff):
        raise Forbidden(_("Only a supervisor can do this."))


def require_chatting(staff: StaffAccount) -> None:
    """An account acting in a chat (replying, ending or transferring its own) must be active with the IM
    permission now: checked by the service on every action, whichever door (HTTP, socket) it came through.
    A supervisor acting on a colleague's chat needs only the routing right."""
    if not staff.is_active or not staff.im_enabled:
        raise Forbidden(_("This account has no IM permission."))


def _own(staff: StaffAccount) -> Q:
    held_before = Transfer.objects.filter(from_agent=staff).values("conversation_id")
    return Q(agent=staff) | Q(pk__in=held_before)


def readable(staff: StaffAccount) -> QuerySet[Conversation]:
    """The conversations ``staff`` may read."""
    qs = Conversation.objects.for_shop(staff.shop)
    return qs if is_supervisor(staff) else qs.filter(_own(staff))


def readable_conversation(
    staff: StaffAccount, conversation_id: int, queryset: QuerySet[Conversation] | None = None
) -> Conversation:
    """One conversation ``staff`` may read (from ``queryset``, e.g. with its relations loaded): NotFound when
    it is missing or another shop's, Forbidden when it is of the shop but not the account's to read."""
    qs = queryset if queryset is not None else Conversation.objects.all()
    conv = qs.filter(shop_id=staff.shop_id, pk=conversation_id).first()
    if conv is None:
        raise NotFound(_("No such conversation in this shop."))
    if conv.agent_id != staff.pk and not readable(staff).filter(pk=conv.pk).exists():
        raise Forbidden(_("This chat is not yours to read."))
    return conv
