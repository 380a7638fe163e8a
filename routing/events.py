"""The chat's events (PROTOCOL.md), published after commit through ``backoffice.events``.

Each is a pydantic model with ``extra="forbid"`` and a literal ``type``; ``to_conversation`` names the groups
of a conversation's buyer and agent. A buyer's socket receives only what a buyer may see: ``to_buyer`` (used
by ``to_conversation`` too) sends the buyer's view of an event (``buyer_view``): who serves them, never the
routing rule, staff ids or the note one agent leaves another; an event with no buyer view is a bug
(TypeError). The publisher and the group names live in ``backoffice.events`` (every
app publishes through them) and are re-exported here for the routing modules. Nothing here writes domain
state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from backoffice.events import Event as Event
from backoffice.events import Sent as Sent
from backoffice.events import agent_group as agent_group
from backoffice.events import buyer_group as buyer_group
from backoffice.events import collected as collected
from backoffice.events import encoded as encoded
from backoffice.events import loop_origin as loop_origin
from backoffice.events import publish as publish
from backoffice.events import publish_now as publish_now
from backoffice.events import shop_agents_group as shop_agents_group


class MessageEvent(Event):
    type: Literal["message"] = "message"
    conversation: int
    id: int
    seq: int
    sender: str
    agent_name: str | None
    text: str
    card: dict[str, Any] | None
    client_msg_id: str
    created_at: datetime


class Assigned(Event):
    type: Literal["assigned"] = "assigned"
    conversation: int
    agent_id: int
    agent_name: str
    buyer_id: int
    buyer_name: str
    rule: str
    waiting_since: datetime | None
    state: Literal["active", "pool"] = "active"  # pool: a message-pool chat, to its holder only


class Queued(Event):
    type: Literal["queued"] = "queued"
    conversation: int
    position: int
    wait_seconds: int


class QueueChanged(Event):
    type: Literal["queue_changed"] = "queue_changed"
    queued: int


class Timer(Event):
    type: Literal["timer"] = "timer"
    conversation: int
    waiting_since: datetime | None


class Transferred(Event):
    type: Literal["transferred"] = "transferred"
    conversation: int
    from_agent_id: int
    to_agent_id: int
    agent_name: str
    note: str


class Ended(Event):
    type: Literal["ended"] = "ended"
    conversation: int
    by: str


class Status(Event):
    type: Literal["status"] = "status"
    status: str
    limit: int


class RatingInvite(Event):
    type: Literal["rating_invite"] = "rating_invite"
    conversation: int
    agent_name: str


class Rated(Event):
    type: Literal["rated"] = "rated"
    conversation: int
    stars: int
    thanks: str


class BuyerAssigned(Event):
    """``assigned`` as the buyer sees it: who serves them now."""

    type: Literal["assigned"] = "assigned"
    conversation: int
    agent_name: str


class BuyerTransferred(Event):
    """``transferred`` as the buyer sees it: who serves them now (not the agents' note to each other)."""

    type: Literal["transferred"] = "transferred"
    conversation: int
    agent_name: str


# Events a buyer receives as they are: every field is the buyer's to see.
_FOR_BUYERS_AS_IS = (MessageEvent, Queued, Ended, RatingInvite, Rated, BuyerAssigned, BuyerTransferred)


def buyer_view(event: Event) -> Event:
    """What a buyer's socket may receive of ``event``."""
    if isinstance(event, Assigned):
        return BuyerAssigned(conversation=event.conversation, agent_name=event.agent_name)
    if isinstance(event, Transferred):
        return BuyerTransferred(conversation=event.conversation, agent_name=event.agent_name)
    if isinstance(event, _FOR_BUYERS_AS_IS):
        return event
    raise TypeError(f"{type(event).__name__} is not an event for buyers")


def to_buyer(buyer_id: int, event: Event) -> tuple[str, Event]:
    """The buyer's group and the buyer's view of ``event``."""
    return buyer_group(buyer_id), buyer_view(event)


def to_conversation(
    conv: Any, event: Event, *, agent: bool = True, buyer: bool = True
) -> list[tuple[str, Event]]:
    """The groups of a conversation's buyer (the buyer's view of the event) and (when it has one) agent."""
    sends: list[tuple[str, Event]] = []
    if buyer:
        sends.append(to_buyer(conv.buyer_id, event))
    if agent and conv.agent_id:
        sends.append((agent_group(conv.agent_id), event))
    return sends


def message_event(message: Any) -> MessageEvent:
    return MessageEvent(
        conversation=message.conversation_id,
        id=message.pk,
        seq=message.seq,
        sender=message.sender,
        agent_name=message.agent.display_name if message.agent_id else None,
        text=message.text,
        card=message.card,
        client_msg_id=message.client_msg_id,
        created_at=message.created_at,
    )
