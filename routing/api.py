"""Routing endpoints for signed-in staff, mounted at /api/v1/routing/ (session cookie + CSRF token).

Thin endpoints: each checks the caller's right, fetches ids within the current shop (another shop's id is a
404 like a missing one), calls one routing service and returns its result. The services enforce the routing
rules; their errors map through the API's DomainError handler: 403 missing right, 404 unknown id, 409 the
state changed under you (already ended, no longer queued), 422 invalid input or a refused request.

Agent desk: ``/me/state``, ``/me/status``, ``/me/limit``, ``/queue``, ``/queue/pull``,
``/conversations/{id}/transfer|end|messages|rating-invite|images``, ``/proactive``. Workbench reads:
``/conversations`` (my sessions), ``GET /conversations/{id}/messages`` (transcript), ``/agents`` (transfer
targets), ``/products`` (product search for cards). Supervision: ``/settings``, ``/conversations/{id}/trace``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Field, File, Query, Router, Schema, Status, UploadedFile
from ninja.security import django_auth

from backoffice.access import LimitIn, Right, current_staff, im_staff, responses, staff_with_right
from backoffice.api import StaffOut
from backoffice.models import Buyer, StaffAccount
from backoffice.tenancy import get_for_shop_or_404
from backoffice.validation import Id, Text
from routing import attachments, events, selectors, services
from routing.access import readable_conversation
from routing.config import update_routing_settings
from routing.models import (
    AgentState,
    AgentStatus,
    Conversation,
    EndReason,
    Message,
    OfflineMode,
    QueueOrder,
    RoutingSettings,
)
from routing.services import queue_in_order

router = Router(auth=django_auth, tags=["routing"])
me_router = Router(auth=django_auth, tags=["staff"])  # mounted at /api/v1/: the staff's own settings


def conversation_of_shop(staff: StaffAccount, conversation_id: int) -> Conversation:
    qs = Conversation.objects.select_related("shop", "buyer", "agent")
    return get_for_shop_or_404(qs, staff.shop, pk=conversation_id)


def chat_and_agent(
    staff: StaffAccount, conversation_id: int, agent_id: int
) -> tuple[Conversation, StaffAccount]:
    """A chat and an agent of the staff's shop to hand it to (404 for either of another shop)."""
    conv = conversation_of_shop(staff, conversation_id)
    return conv, get_for_shop_or_404(StaffAccount.objects.select_related("shop"), staff.shop, pk=agent_id)


# --- schemas -----------------------------------------------------------------------------------------------


class AgentStateOut(Schema):
    staff_id: int
    display_name: str
    status: str = Field(description="online | busy | offline; only online agents receive chats")
    routing: bool = Field(description="takes part in automatic routing")
    group_id: int | None
    weight: int
    load: int = Field(description="seats in use: the agent's active chats")
    max_concurrent: int = Field(description="the agent's reception limit")
    reception_cap: int = Field(description="the highest limit the shop allows")
    offline_routing: bool
    status_changed_at: datetime | None


class StatusIn(Schema, extra="forbid"):
    status: AgentStatus


class ConversationOut(Schema):
    id: int
    state: str
    buyer_id: int
    buyer_nickname: str
    agent_id: int | None
    agent_name: str | None
    group_id: int | None
    priority: bool
    proactive: bool
    created_at: datetime
    queued_at: datetime | None
    assigned_at: datetime | None
    ended_at: datetime | None
    end_reason: str

    @staticmethod
    def resolve_buyer_nickname(obj: Conversation) -> str:
        return obj.buyer.nickname

    @staticmethod
    def resolve_agent_name(obj: Conversation) -> str | None:
        return obj.agent.display_name if obj.agent_id and obj.agent else None


class QueuedOut(Schema):
    position: int = Field(description="1 is the chat that POST /queue/pull without an id takes next")
    id: int
    buyer_id: int
    buyer_nickname: str
    group_id: int | None
    priority: bool = Field(description="new-buyer priority entry: served before the others")
    queued_at: datetime | None


class PullIn(Schema, extra="forbid"):
    conversation_id: Id | None = Field(
        None,
        description="a given queued or message-pool chat; omitted: the queue head (else the oldest "
        "message-pool chat)",
    )


class PooledOut(Schema):
    id: int
    buyer_id: int
    buyer_nickname: str
    group_id: int | None
    holder_id: int | None = Field(description="the account holding it (service assistant or owner)")
    pooled_at: datetime | None = Field(description="when it was left in the pool")
    last_buyer_message_at: datetime | None


class ReassignIn(Schema, extra="forbid"):
    to_agent_id: Id


class ReassignedOut(Schema):
    assigned: int = Field(description="chats handed out")
    left: int = Field(description="chats still in the pool (no free seat in their group)")


class TransferIn(Schema, extra="forbid"):
    to_agent_id: Id
    note: Text = Field("", max_length=200)
    force: bool = Field(False, description="over the target's limit; supervisors only")


class MessageIn(Schema, extra="forbid"):
    text: Text = Field(min_length=1, max_length=services.MAX_TEXT)
    client_msg_id: Text = Field("", max_length=64, description="idempotency key: a resend returns the first")


class MessageOut(Schema):
    id: int
    conversation_id: int
    seq: int
    sender: str
    agent_id: int | None
    text: str
    client_msg_id: str
    created_at: datetime


class ProactiveBuyerOut(Schema):
    id: int
    platform_id: str
    nickname: str


class ProactiveIn(Schema, extra="forbid"):
    buyer_id: Id


class SettingsOut(Schema):
    queue_order: str = Field(description="fifo | lifo")
    no_queue: bool
    new_buyer_priority: bool
    offline_routing: bool
    offline_mode: str = Field(
        description="everyone offline and nobody on the offline-routing list: queue (until an agent comes "
        "online; the default) | pool (the message pool)"
    )
    pool_holder_id: int | None = Field(description="message-pool holder; null: the owner")
    pool_auto_drain: bool = Field(description="message-pool chats go to agents as seats come free")
    owner_routes_in_simple_mode: bool = Field(description="the owner receives chats when there are no groups")


class SettingsIn(Schema, extra="forbid"):
    queue_order: QueueOrder | None = Field(None, description="owner only")
    no_queue: bool | None = None
    new_buyer_priority: bool | None = None
    offline_routing: bool | None = None
    offline_mode: OfflineMode | None = Field(None, description="queue | pool")
    pool_holder_id: Id | None = Field(None, description="a staff account of the shop; null clears it")
    pool_auto_drain: bool | None = None
    owner_routes_in_simple_mode: bool | None = None


class CandidateOut(Schema):
    """A colleague's load and limit (and the ratios made of them) are null unless the caller manages
    routing."""

    staff_id: int
    name: str
    load: int | None
    max: int | None
    idle_ratio: float | None = Field(description="(max - load) / max")
    weight: int
    share: float | None = Field(description="load / (max x weight): the lowest wins, ties at random")


class DecisionOut(Schema):
    id: int
    created_at: datetime
    rule: str
    outcome: str = Field(description="assigned | queued | pool")
    winner_id: int | None
    winner_name: str | None
    group_id: int | None
    candidates: list[CandidateOut]
    note: str


def state_out(staff: StaffAccount) -> dict[str, Any]:
    # Read only: an account that never used routing has the defaults (offline, load 0, weight 1).
    state = AgentState.objects.filter(staff=staff).first() or AgentState(staff=staff, shop_id=staff.shop_id)
    return {
        "staff_id": staff.pk,
        "display_name": staff.display_name,
        "status": state.status,
        "routing": state.routing,
        "group_id": state.group_id,
        "weight": state.weight,
        "load": state.load,
        "max_concurrent": staff.max_concurrent,
        "reception_cap": staff.shop.reception_cap,
        "offline_routing": state.offline_routing,
        "status_changed_at": state.status_changed_at,
    }


# --- my presence and limit ---------------------------------------------------------------------------------


@router.get("/me/state", response=responses(AgentStateOut), summary="My routing state")
def my_state(request: HttpRequest) -> dict[str, Any]:
    """Presence, load against the reception limit, group and weight of the signed-in account."""
    return state_out(current_staff(request))


@router.put(
    "/me/status",
    response=responses(AgentStateOut, 400, 422),
    summary="Go online, busy or offline",
    description="Only online agents receive chats; coming online serves the queue. Going online needs the "
    "IM permission (403).",
)
def set_my_status(request: HttpRequest, body: StatusIn) -> dict[str, Any]:
    staff = current_staff(request)
    services.set_agent_status(staff=staff, status=body.status)
    return state_out(staff)


@router.put(
    "/me/limit",
    response=responses(AgentStateOut, 400, 422),
    summary="Set my reception limit",
    description="1 to the shop's cap (422 otherwise); a raised limit serves the queue at once.",
)
def set_my_limit(request: HttpRequest, body: LimitIn) -> dict[str, Any]:
    staff = current_staff(request)
    services.set_reception_limit(actor=staff, staff=staff, limit=body.limit)
    return state_out(staff)


@me_router.put(
    "/me/reception-limit",
    response=responses(StaffOut, 400, 422),
    summary="Set my own reception limit",
    description="1 to the shop's cap (422 otherwise); a raised limit serves the queue at once. The same "
    "service as PUT /routing/me/limit, answered with the account.",
)
def set_my_reception_limit(request: HttpRequest, body: LimitIn) -> StaffAccount:
    staff = current_staff(request)
    return services.set_reception_limit(actor=staff, staff=staff, limit=body.limit)


# --- queue -------------------------------------------------------------------------------------------------


@router.get(
    "/queue",
    response=responses(list[QueuedOut]),
    summary="The shop's queue",
    description="Queued chats in the order they are served (priority entries first, then the shop's queue "
    "order). For accounts with the IM permission.",
)
def queue(request: HttpRequest) -> list[dict[str, Any]]:
    staff = im_staff(request)
    queued = queue_in_order(staff.shop).select_related("buyer")
    return [
        {
            "position": position,
            "id": conv.pk,
            "buyer_id": conv.buyer_id,
            "buyer_nickname": conv.buyer.nickname,
            "group_id": conv.group_id,
            "priority": conv.priority,
            "queued_at": conv.queued_at,
        }
        for position, conv in enumerate(queued, start=1)
    ]


@router.post(
    "/queue/pull",
    response=responses(ConversationOut, 400, 404, 409, 422),
    summary="Take a chat from the queue or the message pool",
    description="A given queued or message-pool chat, or the head of the queue (the oldest message-pool chat "
    "when the queue is empty); needs a free seat (422). A chat that is no longer waiting (someone else took "
    "it) is a 409.",
)
def pull(request: HttpRequest, body: PullIn) -> Conversation:
    staff = im_staff(request)
    wanted = None
    if body.conversation_id is not None:
        wanted = conversation_of_shop(staff, body.conversation_id)
    return services.pull_from_queue(agent=staff, conversation=wanted)


# --- message pool ------------------------------------------------------------------------------------------


def _pool_keeper(request: HttpRequest) -> StaffAccount:
    """A supervisor or the account holding the shop's message pool (403 for anyone else)."""
    staff = im_staff(request)
    services.require_pool_keeper(
        staff, services.pool_holder(staff.shop_id, services.routing_settings(staff.shop))
    )
    return staff


@router.get(
    "/pool",
    response=responses(list[PooledOut]),
    summary="The shop's message pool",
    description="Chats left while everyone was offline (offline mode pool), oldest first. For the pool's "
    "holder and supervisors (403 otherwise).",
)
def pool(request: HttpRequest) -> list[dict[str, Any]]:
    staff = _pool_keeper(request)
    return [
        {
            "id": conv.pk,
            "buyer_id": conv.buyer_id,
            "buyer_nickname": conv.buyer.nickname,
            "group_id": conv.group_id,
            "holder_id": conv.agent_id,
            "pooled_at": conv.queued_at,
            "last_buyer_message_at": conv.last_buyer_message_at,
        }
        for conv in services.pool_in_order(staff.shop).select_related("buyer")
    ]


@router.post(
    "/pool/{conversation_id}/reassign",
    response=responses(ConversationOut, 400, 404, 409, 422),
    summary="Give a message-pool chat to an agent",
    description="By the pool's holder or a supervisor (403 otherwise). The agent must be online (422), and "
    "may be at their limit (the person handing it out decides). A chat no longer in the pool is a 409.",
)
def reassign_one(request: HttpRequest, conversation_id: Id, body: ReassignIn) -> Conversation:
    staff = im_staff(request)
    conv, to_agent = chat_and_agent(staff, conversation_id, body.to_agent_id)
    return services.reassign_from_pool(conversation=conv, to_agent=to_agent, by=staff)


@router.post(
    "/pool/reassign",
    response=responses(ReassignedOut),
    summary="Hand out the whole message pool",
    description="Oldest first, each chat to the online agent of its group with the lowest load / (limit x "
    "weight) and a free seat; what finds no free seat stays. By the pool's holder or a supervisor (403).",
)
def reassign_all(request: HttpRequest) -> dict[str, int]:
    staff = _pool_keeper(request)
    assigned = services.reassign_pool(shop=staff.shop, by=staff)
    return {"assigned": assigned, "left": services.pool_in_order(staff.shop).count()}


# --- conversations -----------------------------------------------------------------------------------------


@router.post(
    "/conversations/{conversation_id}/transfer",
    response=responses(ConversationOut, 400, 404, 409, 422),
    summary="Transfer an active chat to another agent",
    description="The target must be an online agent of the shop with a free seat (422 otherwise) unless a "
    "supervisor forces it. Only the chat's agent or a supervisor may transfer (403).",
)
def transfer(request: HttpRequest, conversation_id: Id, body: TransferIn) -> Conversation:
    staff = current_staff(request)
    conv, to_agent = chat_and_agent(staff, conversation_id, body.to_agent_id)
    return services.transfer(conversation=conv, to_agent=to_agent, by=staff, note=body.note, force=body.force)


@router.post(
    "/conversations/{conversation_id}/end",
    response=responses(ConversationOut, 404, 409, 422),
    summary="End a chat",
    description="Moves it to history and frees the seat. Only the chat's agent or a supervisor may end it "
    "(403); ending twice is a 409.",
)
def end(request: HttpRequest, conversation_id: Id) -> Conversation:
    staff = current_staff(request)
    conv = conversation_of_shop(staff, conversation_id)
    return services.end_conversation(conversation=conv, reason=EndReason.AGENT, by=staff)


@router.post(
    "/conversations/{conversation_id}/messages",
    response=responses(MessageOut, 400, 404, 409, 422),
    summary="Reply in a chat",
    description="Only the chat's agent may reply (403). Stops the reply timer. An ended chat can be replied "
    "to for 72 hours (422 afterwards). Text of 1 to 2000 characters; a resend with the same client_msg_id "
    "returns the original message.",
)
def reply(request: HttpRequest, conversation_id: Id, body: MessageIn) -> Message:
    staff = current_staff(request)
    conv = conversation_of_shop(staff, conversation_id)
    return services.post_agent_message(
        agent=staff, conversation=conv, text=body.text, client_msg_id=body.client_msg_id
    )


@router.get(
    "/conversations/{conversation_id}/trace",
    response=responses(list[DecisionOut], 404, 422),
    summary="Routing trace of a chat",
    description="Every routing decision: the rule, the outcome, the winner and the candidates with their "
    "idle ratio and weight. For the chat's agent and accounts that manage routing (403 otherwise).",
)
def trace(request: HttpRequest, conversation_id: Id) -> Any:
    staff = current_staff(request)
    return services.routing_trace(readable_conversation(staff, conversation_id), viewer=staff)


# --- proactive chats ---------------------------------------------------------------------------------------


@router.get(
    "/proactive/buyers",
    response=responses(list[ProactiveBuyerOut], 422),
    summary="Find buyers to contact",
    description="By order number or nickname, among buyers with an order in the last 30 days (at most 20).",
)
def proactive_buyers(request: HttpRequest, q: Annotated[Text, Query("", max_length=100)] = "") -> list[Buyer]:
    staff = im_staff(request)
    return services.find_proactive_buyers(shop=staff.shop, query=q)


@router.post(
    "/proactive",
    response=responses(ConversationOut, 400, 404, 409, 422),
    summary="Open a chat with a buyer",
    description="Buyers with an order in the last 30 days (422 otherwise); uses one of my seats (422 when "
    "full). A buyer already chatting with an agent is a 409.",
)
def start_proactive(request: HttpRequest, body: ProactiveIn) -> Conversation:
    staff = im_staff(request)
    buyer = get_for_shop_or_404(Buyer.objects.all(), staff.shop, pk=body.buyer_id)
    return services.start_proactive(agent=staff, buyer=buyer)


# --- settings ----------------------------------------------------------------------------------------------


@router.get("/settings", response=responses(SettingsOut), summary="The shop's routing settings")
def get_settings(request: HttpRequest) -> RoutingSettings:
    staff = current_staff(request)
    # Read only: a shop that never saved its settings has the defaults.
    return RoutingSettings.objects.filter(shop=staff.shop).first() or RoutingSettings(shop=staff.shop)


@router.put(
    "/settings",
    response=responses(SettingsOut, 400, 404, 422),
    summary="Change the shop's routing settings",
    description="Needs the right to manage routing (403). Fields left out stay as they are. Changing the "
    "queue order is for the owner only (403). The pool holder must be a staff account of the shop (404).",
)
def put_settings(request: HttpRequest, body: SettingsIn) -> RoutingSettings:
    staff = staff_with_right(request, Right.MANAGE_ROUTING)
    return update_routing_settings(actor=staff, **body.model_dump(exclude_unset=True))


# --- workbench reads ---------------------------------------------------------------------------------------


class SessionOut(Schema):
    id: int
    state: str
    buyer_id: int
    buyer_name: str
    agent_id: int | None = Field(
        description="the chat's agent now: a colleague's id for a chat I transferred away"
    )
    agent_name: str | None
    proactive: bool
    assigned_at: datetime | None
    waiting_since: datetime | None = Field(description="the reply timer: since when the buyer waits")
    ended_at: datetime | None
    repliable_until: datetime | None = Field(description="ended chats: replies are refused after this")
    last_seq: int
    unread: int = Field(description="buyer messages after the agent's last reply")
    last_text: str
    last_sender: str
    last_kind: str = Field(description="the last message's card kind (image, product, ...) or empty")
    last_at: datetime | None


class AgentOut(Schema):
    id: int
    name: str
    status: str


class ProductCardOut(Schema):
    id: int
    platform_id: str
    title: str
    price: Decimal
    image_url: str


@router.get(
    "/conversations",
    response=responses(list[SessionOut], 422),
    summary="My sessions",
    description="``scope=active``: my chats in progress, in assignment order, then the message-pool chats I "
    "hold (``state`` pool: I am the pool's holder); ``scope=history``: my chats ended in the last 72 hours "
    "and the chats I transferred away in that time (``agent_id`` another's: read only), newest first. With "
    "the reply timer and the unread count.",
)
def my_conversations(
    request: HttpRequest, scope: Literal["active", "history"] = "active"
) -> list[dict[str, Any]]:
    staff = im_staff(request)
    rows = selectors.active_sessions(staff) if scope == "active" else selectors.history_sessions(staff)
    return [selectors.session_row(conv) for conv in rows]


@router.get(
    "/conversations/{conversation_id}/messages",
    response=responses(list[events.MessageEvent], 404, 422),
    summary="Transcript of a chat",
    description="Messages after ``after`` (a sequence number; 0: from the start) in order, at most "
    "``limit``. For the chat's agent and accounts that manage routing (403 otherwise).",
)
def messages(
    request: HttpRequest,
    conversation_id: Id,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
) -> list[events.MessageEvent]:
    conv = readable_conversation(current_staff(request), conversation_id)
    return [events.message_event(m) for m in selectors.transcript(conv, after=after, limit=limit)]


class ImageOut(Schema):
    kind: Literal["image"]
    attachment: int = Field(description="the id an image message names (the socket's image frame)")
    url: str = Field(description="the image, for the chat's buyer (add ?token=) and the shop's staff")
    thumb_url: str = Field(description="its thumbnail, at most 320 pixels a side")
    width: int
    height: int
    thumb_width: int
    thumb_height: int


@router.post(
    "/conversations/{conversation_id}/images",
    response=responses(ImageOut, 400, 404, 422, status=201),
    summary="Upload an image to send in a chat",
    description="Multipart form: file, a JPEG, PNG, GIF or WebP image (checked by its content, not its name "
    "or type) of at most 10 MB and 40 million pixels; stored re-encoded without metadata, under a random "
    "name, with a thumbnail. Send it with the socket's image frame naming the returned attachment id (only "
    "in this chat). For the chat's agent and accounts that manage routing (403 otherwise); 422 for anything "
    "but such an image.",
)
def upload_image(
    request: HttpRequest, conversation_id: Id, file: File[UploadedFile]
) -> Status[dict[str, Any]]:
    staff = im_staff(request)
    conv = readable_conversation(staff, conversation_id, Conversation.objects.select_related("shop"))
    data = file.read(attachments.max_bytes() + 1)  # more than the limit is refused by the check
    attachment = services.upload_agent_image(staff=staff, conversation=conv, data=data)
    return Status(201, attachments.card(attachment))


@router.post(
    "/conversations/{conversation_id}/rating-invite",
    response=responses(events.MessageEvent, 404, 409, 422),
    summary="Invite the buyer to rate the chat",
    description="Sends the rating card (邀请评价) into an active chat. Only the chat's agent (403); an ended "
    "chat is a 409.",
)
def rating_invite(request: HttpRequest, conversation_id: Id) -> events.MessageEvent:
    staff = im_staff(request)
    conv = conversation_of_shop(staff, conversation_id)
    message = services.invite_rating(agent=staff, conversation=conv)
    message.agent = staff
    return events.message_event(message)


@router.get(
    "/agents",
    response=responses(list[AgentOut]),
    summary="Colleagues to transfer to",
    description="The shop's other active accounts with the IM permission and their presence.",
)
def agents(request: HttpRequest) -> list[dict[str, Any]]:
    return selectors.colleagues(im_staff(request))


@router.get(
    "/products",
    response=responses(list[ProductCardOut], 422),
    summary="Search the shop's products",
    description="Title or category containing ``q``, or the exact platform id (at most 20), to send as a "
    "card.",
)
def products(request: HttpRequest, q: Annotated[Text, Query("", max_length=100)] = "") -> Any:
    return selectors.search_products(im_staff(request), q)
