"""Ratings (服务评价): the agent's invitation and the buyer's stars, one rating per chat with an agent."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.errors import Conflict, Forbidden, Invalid, NotFound
from backoffice.models import Buyer, StaffAccount
from routing import events
from routing.models import Conversation, ConversationState, Message, Rating, SenderKind
from routing.services.messages import append

RATING_WINDOW = timedelta(hours=24)  # the seeds are silent; a day covers "rate it when I'm back"


def invite_rating(*, agent: StaffAccount, conversation: Conversation) -> Message:
    """The agent sends a rating card (邀请评价) into their active chat. Checked on the locked row, so a chat
    that ended (or moved to a colleague) meanwhile gets no card."""
    with transaction.atomic():
        conv = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conv.agent_id != agent.pk:
            raise Forbidden(_("This chat is not yours."))
        if conv.state != ConversationState.ACTIVE:
            raise Conflict(_("Ratings can only be invited during an active chat."))
        message = append(
            conv,
            sender=SenderKind.SYSTEM,
            text=_("Please rate this chat"),
            agent=agent,
            client_msg_id="",
            card={"kind": "rating_invite"},
        )
        invite = events.RatingInvite(conversation=conv.pk, agent_name=agent.display_name)
        events.publish(events.to_conversation(conv, invite, agent=False))
        return message


def rateable(conversation: Conversation) -> bool:
    """A chat with an agent can be rated while it lasts and for ``RATING_WINDOW`` after it ended: most buyers
    rate when the agent ends the chat, or when they come back to it."""
    if conversation.agent_id is None:
        return False
    if conversation.state == ConversationState.ACTIVE:
        return True
    ended_at = conversation.ended_at
    return (
        conversation.state == ConversationState.ENDED
        and ended_at is not None
        and timezone.now() - ended_at <= RATING_WINDOW
    )


def rating_target(buyer: Buyer) -> Conversation | None:
    """The buyer's chat that the rating menu rates: the newest one still ``rateable`` (the same rule, as a
    query), with its agent and rating (if any) loaded."""
    since = timezone.now() - RATING_WINDOW
    return (
        Conversation.objects.filter(buyer=buyer, agent__isnull=False)
        .filter(Q(state=ConversationState.ACTIVE) | Q(state=ConversationState.ENDED, ended_at__gte=since))
        .select_related("agent", "rating")
        .order_by("-pk")
        .first()
    )


def rate(*, buyer: Buyer, conversation: Conversation, stars: int) -> tuple[Rating, str]:
    """One rating per chat with an agent, changeable while the chat is ``rateable`` (in progress, or ended
    less than ``RATING_WINDOW`` ago); the rating counts for the agent who served last; the thank-you names
    them."""
    if conversation.buyer_id != buyer.pk:
        raise NotFound(_("No such conversation."))
    if not 1 <= stars <= 5:
        raise Invalid(_("Choose 1 to 5 stars."))
    agent_id = conversation.agent_id
    if agent_id is None or not rateable(conversation):
        raise Conflict(_("A chat with an agent can be rated until a day after it ended."))
    rating, _created = Rating.objects.update_or_create(
        conversation=conversation, defaults={"stars": stars, "agent_id": agent_id}
    )
    name = StaffAccount.objects.get(pk=agent_id).display_name
    thanks = _("Thank you for rating agent %(name)s") % {"name": name}
    events.publish(
        events.to_conversation(
            conversation, events.Rated(conversation=conversation.pk, stars=stars, thanks=thanks)
        )
    )
    return rating, thanks
