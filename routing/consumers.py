"""The chat WebSocket consumers: the agent workbench and the buyer chat page (protocol: PROTOCOL.md).

Thin edges: authenticate at connect, check access for every conversation named in a frame, call one routing
service per frame (in a worker thread: no ORM on the event loop), and relay the events the services publish
to the groups this socket joined. They never write domain state themselves.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, TypeVar, cast
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib import auth
from django.http import HttpRequest
from django.http.request import split_domain_port, validate_host
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from backoffice import layer_watch, validation
from backoffice.access import has_right
from backoffice.errors import Conflict, DomainError, Forbidden, NotFound
from backoffice.models import Buyer, Product, StaffAccount
from backoffice.tenancy import SESSION_KEY, bind_staff, resolve_staff
from backoffice.validation import Id
from routing import attachments, events, limits, presence, services, tasks
from routing.access import readable
from routing.heartbeat import heartbeat
from routing.models import Conversation, ConversationState, Message
from routing.reception import Received, receiver
from routing.services import loopstore
from routing.tokens import buyer_session

MAX_FRAME = 16_384  # bytes of one frame: room for 2,000 characters and the envelope
MAX_DEPTH = 4  # nesting of a frame's JSON: the deepest frame (resume) has 2
RESUME_LIMIT = 1000  # messages replayed per conversation and resume
ERROR_CODES = {NotFound: "not_found", Forbidden: "forbidden", Conflict: "conflict"}
# Per buyer or agent across all their sockets and processes (routing.limits): (rate a second, burst).
SEND_LIMIT = (5.0, 10)  # a buyer's messages
RESUME_RATE = (1.0, 10)  # resume frames (each replays up to RESUME_LIMIT messages a conversation)
PING_RATE = (1.0, 10)  # pings (a page pings every 15 s)
BUYER_SOCKETS = 10  # sockets one buyer may hold open at once (tabs, devices)
SESSION_RECHECK = 60.0  # seconds: an agent socket checks its session again at its next frame after this
CLOSE_TOO_MANY = 4429  # refused: the buyer already holds BUYER_SOCKETS sockets
CLOSE_SHOP_CHANGED = 4409  # refused: the page's shop (?shop=) is no longer the session's current shop


T = TypeVar("T")


class Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str


Seq = Annotated[int, Field(ge=0, le=validation.MAX_ID)]


class Resume(Frame):
    after: dict[Id, Seq] = Field(max_length=200)


class Send(Frame):
    conversation: Id | None = None  # agent: the chat; a buyer has one open chat and leaves it out
    client_msg_id: str = Field(min_length=1, max_length=64)
    text: str
    product: Id | None = None  # buyer: the product page the chat was opened from (routing's product scope)


class Card(Frame):
    conversation: Id
    client_msg_id: str = Field(min_length=1, max_length=64)
    kind: str = Field(max_length=20)
    id: Id


class Image(Frame):
    """An image message: an image uploaded over HTTP first (``routing.attachments``), named by its id."""

    conversation: Id | None = None  # agent: the chat; a buyer has one open chat and leaves it out
    client_msg_id: str = Field(min_length=1, max_length=64)
    attachment: Id
    product: Id | None = None  # buyer: as in ``send``


class Rate(Frame):
    conversation: Id
    stars: int = Field(ge=-(2**31), le=2**31)  # the service says which (1..5)


class Revoked(Exception):
    """The socket's session or account no longer allows it: it closes with ``code`` (4401 / 4403)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _depth(value: Any) -> int:
    """How deeply a parsed frame nests (a loop: a frame may nest deeper than Python's recursion limit)."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
        if isinstance(item, dict | list) and depth <= MAX_DEPTH:
            pending += [(child, depth + 1) for child in children]
    return deepest


def _bad_value(value: Any) -> str | None:
    """Why a parsed frame is refused before validation: nested deeper than MAX_DEPTH, or a string (key or
    value) that cannot be stored (``backoffice.validation``, the API's rule: NUL, lone surrogates)."""
    if _depth(value) > MAX_DEPTH:
        return _("The frame is nested too deeply.")
    return validation.json_text_error(value)


def ping_only_answer(text_data: str | None) -> str:
    """The answer of a socket that takes only pings (the supervisors' live monitor and operations alerts):
    ``{"type": "pong"}`` to ``{"type": "ping"}``, an error frame to anything else."""
    try:
        kind = json.loads(text_data or "").get("type")
    except (ValueError, AttributeError):
        kind = None
    if kind == "ping":
        return '{"type": "pong"}'
    return json.dumps({"type": "error", "code": "bad_frame", "message": "ping only"})


def origin_allowed(scope: Mapping[str, Any]) -> bool:
    """The page opening the socket is this site: its Origin has the scheme, host and port the request came
    to (Django's CSRF rule), or is one of CSRF_TRUSTED_ORIGINS. A socket without an Origin is refused."""
    headers: dict[bytes, bytes] = dict(scope.get("headers", []))
    origin = headers.get(b"origin", b"").decode("latin-1")
    if not origin or origin == "null":
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    host = headers.get(b"host", b"").decode("latin-1")
    if not host and scope.get("server"):
        server_host, port = scope["server"]
        host = server_host if port in (80, 443, None) else f"{server_host}:{port}"
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    secure = scope.get("scheme") == "wss"
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name = proxy[0].removeprefix("HTTP_").replace("_", "-").lower().encode()
        secure = secure or headers.get(name, b"").decode("latin-1") == proxy[1]
    return origin == f"{'https' if secure else 'http'}://{host}"


class ChatConsumer(AsyncWebsocketConsumer):
    """Frame parsing, errors and event relay shared by both ends."""

    frames: dict[str, type[Frame]] = {"ping": Frame}
    joined: list[str]
    closing = False  # closed by the server (revoked, expired): later frames are ignored

    def who(self) -> str:
        """Whose budget this socket spends (``routing.limits``): ``buyer:<id>`` or ``agent:<id>``."""
        raise NotImplementedError

    async def close_for(self, code: int) -> None:
        self.closing = True
        await self.close(code=code)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its ``close_old_connections`` before every handler: that is a hop to the
        database thread for every frame and every event, and it queued behind the message writes. Nothing
        here touches the ORM outside ``database_sync_to_async``, which closes old connections itself. An
        event this event loop published itself (``events.publish_now``) reached this socket directly, so
        its copy from Redis is dropped."""
        if message.get("origin") == events.loop_origin():
            return  # this loop's own event coming back from Redis: its sockets had it directly (publish_now)
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def join(self, *groups: str) -> None:
        self.joined = list(groups)
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        layer_watch.watch().add(self)

    async def layer_lost(self) -> None:
        """The channel layer's Redis was lost (``backoffice.layer_watch``): events may have been missed, so
        close with 4012; the page reconnects and resumes from its last seq."""
        if not self.closing:
            await self.close_for(layer_watch.CLOSE_LAYER_LOST)

    async def disconnect(self, code: int) -> None:
        layer_watch.watch().discard(self)
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, ensure_ascii=False, default=str))

    async def error(self, code: str, message: str, client_msg_id: Any = None) -> None:
        payload: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if isinstance(client_msg_id, str):
            payload["client_msg_id"] = client_msg_id
        await self.send_json(payload)

    async def chat_event(self, message: dict[str, Any]) -> None:
        """An event published by the routing services to one of this socket's groups."""
        await self.send(text_data=message["text"])  # the event's JSON, encoded once at publish

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        try:
            await self.before_frame()
            await self.handle_frame(text_data)
        except Revoked as exc:
            await self.close_for(exc.code)

    async def before_frame(self) -> None:
        """Checks an end makes before any frame (raise Revoked to close)."""

    async def handle_frame(self, text_data: str | None) -> None:
        if text_data is None or len(text_data.encode("utf-8", "surrogatepass")) > MAX_FRAME:
            await self.error(
                "too_long" if text_data else "bad_json", _("The frame is too large or not text.")
            )
            return
        try:
            raw = json.loads(text_data)
        except (ValueError, RecursionError):
            await self.error("bad_json", _("The frame is not valid JSON."))
            return
        if not isinstance(raw, dict):
            await self.error("bad_json", _("A frame is a JSON object."))
            return
        bad = _bad_value(raw)
        if bad is not None:
            await self.error("invalid", bad)
            return
        kind = raw.get("type")
        model = self.frames.get(kind) if isinstance(kind, str) else None
        if model is None:
            await self.error("unknown_type", _("Unknown frame type %(type)s.") % {"type": str(kind)[:40]})
            return
        cid = raw.get("client_msg_id")
        if isinstance(raw.get("text"), str) and len(raw["text"]) > services.MAX_TEXT:
            msg = _("A message is limited to %(max)d characters.") % {"max": services.MAX_TEXT}
            await self.error("too_long", msg, cid)
            return
        try:
            frame = model.model_validate(raw)
        except ValidationError as exc:
            await self.error(
                "invalid", "; ".join(str(e["loc"][-1]) + ": " + e["msg"] for e in exc.errors()), cid
            )
            return
        try:
            await getattr(self, f"on_{kind}")(frame)
        except DomainError as exc:
            code = next((c for cls, c in ERROR_CODES.items() if isinstance(exc, cls)), "invalid")
            await self.error(code, str(exc.message), cid)

    async def throttled(self, kind: str, limit: tuple[float, int], client_msg_id: Any = None) -> bool:
        """Spend one of ``kind`` from this socket's owner's budget; an error frame when there is none."""
        rate, burst = limit
        if await limits.allow(kind, self.who(), rate=rate, burst=burst):
            return False
        await self.error("throttled", _("Too many requests; please wait a moment."), client_msg_id)
        return True

    async def on_ping(self, frame: Frame) -> None:
        if await self.throttled("ping", PING_RATE):
            return
        await self.send_json({"type": "pong"})

    async def replay(self, after: dict[int, int], allowed: dict[int, int]) -> None:
        """Every message after the given seq of each conversation (``allowed``: id -> last seq), in order."""
        for conv_id, seq in after.items():
            if conv_id not in allowed:
                await self.error("not_found", _("No such conversation."))
                continue
            for message in await database_sync_to_async(_messages_after)(conv_id, seq):
                await self.send_json(events.message_event(message).model_dump(mode="json"))
        await self.send_json({"type": "resumed", "conversations": [c for c in after if c in allowed]})


def _messages_after(conv_id: int, seq: int) -> list[Message]:
    return list(
        Message.objects.filter(conversation_id=conv_id, seq__gt=seq)
        .select_related("agent")
        .order_by("seq")[:RESUME_LIMIT]
    )


def _ack(message: Message) -> dict[str, Any]:
    return {
        "type": "ack",
        "client_msg_id": message.client_msg_id,
        "conversation": message.conversation_id,
        "id": message.pk,
        "seq": message.seq,
        "created_at": message.created_at.isoformat(),
    }


def _collecting(fn: Callable[..., T], *args: Any) -> tuple[T, list[events.Sent]]:
    """``fn(*args)`` (in the worker thread) and the events it published, for the event loop to send."""
    with events.collected() as sent:
        result = fn(*args)
    return result, sent


def _own_echo(sent: list[events.Sent], channels: Mapping[tuple[int, str], str]) -> dict[int, str]:
    """The sender's socket of each message event among ``sent`` (by conversation and client_msg_id): it has
    the message's ack and needs no echo (``events.publish_now(skip=...)``); its other tabs still get it."""
    return {
        id(event): channel
        for _group, _payload, event in sent
        if isinstance(event, events.MessageEvent)
        and (channel := channels.get((event.conversation, event.client_msg_id))) is not None
    }


# --- agent -------------------------------------------------------------------------------------------------


def session_account(scope: Mapping[str, Any]) -> tuple[StaffAccount | None, int]:
    """The session's current account, or the close code: 4401 without one, 4409 when the page names a shop
    (``?shop=<id>``, the shop it was rendered for) that is no longer the session's current shop (the person
    switched shop in another tab). A socket naming no shop follows the session. Every staff socket (the
    workbench's, the reports' live monitor) opens through it."""
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return None, 4401
    staff = resolve_staff(user, scope["session"].get(SESSION_KEY))
    if staff is None:
        return None, 4401
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    named = query.get("shop")
    if named is not None and validation.parse_id(named[0]) != staff.shop_id:
        return None, CLOSE_SHOP_CHANGED
    return staff, 0


def _agent_of(scope: Mapping[str, Any]) -> tuple[StaffAccount | None, int]:
    """The session's current account (``session_account``) and the close code when it may not chat (4403).
    Once open, the socket acts for the account it opened with, whatever the session switches to."""
    staff, code = session_account(scope)
    if staff is None:
        return None, code
    if not staff.im_enabled:
        return None, 4403
    bind_staff(scope["user"], staff)
    return staff, 0


def _chatting_agent(staff_id: int) -> StaffAccount:
    """The socket's account as it is now: active (its person too) and with IM permission, else Revoked.
    Every agent frame that reads or writes chats asks it, so a disabled account stops at its next frame
    even if the ``access_changed`` event was lost."""
    staff = (
        StaffAccount.objects.select_related("shop")
        .filter(pk=staff_id, is_active=True, user__is_active=True)
        .first()
    )
    if staff is None:
        raise Revoked(4401)
    if not staff.im_enabled:
        raise Revoked(4403)
    return staff


def session_user_id(session_key: str | None) -> int | None:
    """Who the session signs in now (read again from the session store: a logout deleted it), or None."""
    if not session_key:
        return None
    request = HttpRequest()
    request.session = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key)
    user = auth.get_user(request)  # checks the session's password hash too
    return int(user.pk) if user.is_authenticated else None


def _account_with_right(scope: Mapping[str, Any], right: str) -> tuple[StaffAccount | None, int]:
    staff, code = session_account(scope)
    if staff is None:
        return None, code
    if not has_right(staff, right):
        return None, 4403
    return staff, 0


async def open_with_right(consumer: AsyncWebsocketConsumer, right: str) -> StaffAccount | None:
    """The account of a supervisors' read-only socket (the reports' live monitor, the operations alerts) that
    may open: the page is this site's (else 4403), the session's account (``session_account``: 4401, 4409)
    holds ``right`` (else 4403). None when the socket was closed with its code; on success it is not yet
    accepted."""
    if not origin_allowed(consumer.scope):
        await consumer.close(code=4403)
        return None
    staff, code = await database_sync_to_async(_account_with_right)(consumer.scope, right)
    if staff is None:
        if code == CLOSE_SHOP_CHANGED:
            await consumer.accept()
        await consumer.close(code=code)
    return staff


def still_allowed(session_key: str | None, staff_id: int, right: str) -> StaffAccount | None:
    """The account of such a socket as it is now, if the session still signs in its person, it is active
    and it still holds ``right``; else None (the socket closes)."""
    staff = (
        StaffAccount.objects.select_related("shop", "user")
        .filter(pk=staff_id, is_active=True, user__is_active=True)
        .first()
    )
    if staff is None or session_user_id(session_key) != staff.user_id or not has_right(staff, right):
        return None
    return staff


def _agent_recheck(session_key: str | None, staff: StaffAccount) -> None:
    """The session still signs in the socket's person and the account may still chat, else Revoked."""
    if session_user_id(session_key) != staff.user_id:
        raise Revoked(4401)
    _chatting_agent(staff.pk)


def _agent_conversations(staff_id: int, ids: list[int]) -> dict[int, int]:
    """Which of ``ids`` this agent may read (``routing.access.readable``), with their last seq."""
    staff = _chatting_agent(staff_id)
    return dict(readable(staff).filter(pk__in=ids).values_list("pk", "last_seq"))


def _conversation_of_agent(staff: StaffAccount, conv_id: int | None) -> Conversation:
    conv = (
        Conversation.objects.for_shop(staff.shop).filter(pk=conv_id).first() if conv_id is not None else None
    )
    if conv is None:
        raise NotFound(_("No such conversation in this shop."))
    return conv


def _agent_send(staff_id: int, frame: Send) -> Message:
    staff = _chatting_agent(staff_id)
    conv = _conversation_of_agent(staff, frame.conversation)
    return services.post_agent_message(
        agent=staff, conversation=conv, text=frame.text, client_msg_id=frame.client_msg_id
    )


def _agent_card(staff_id: int, frame: Card) -> Message:
    staff = _chatting_agent(staff_id)
    conv = _conversation_of_agent(staff, frame.conversation)
    return services.post_agent_card(
        agent=staff, conversation=conv, kind=frame.kind, object_id=frame.id, client_msg_id=frame.client_msg_id
    )


def _agent_image(staff_id: int, frame: Image) -> Message:
    staff = _chatting_agent(staff_id)
    conv = _conversation_of_agent(staff, frame.conversation)
    return services.post_agent_image(
        agent=staff, conversation=conv, attachment_id=frame.attachment, client_msg_id=frame.client_msg_id
    )


def _agent_connected(staff: StaffAccount, process: str) -> dict[str, Any]:
    """Count the tab in this process's lease (presence) and say hello with the agent's status."""
    state = presence.connected(staff, process)
    return {"type": "hello", "staff_id": staff.pk, "status": state.status, "limit": staff.max_concurrent}


def _agent_disconnected(staff: StaffAccount, process: str) -> None:
    presence.disconnected(staff, process)
    tasks.check_presence_later()


class AgentConsumer(ChatConsumer):
    """An agent's workbench tab. It stays open only while its session signs the person in and the account
    may chat: ``access_changed`` (logout, account saved) makes it check at once, every chat frame checks the
    account, and the session is checked again at the first frame after SESSION_RECHECK seconds."""

    frames = {"ping": Frame, "resume": Resume, "send": Send, "card": Card, "image": Image}
    staff: StaffAccount
    process: str  # the presence lease this tab counts in (set once counted)

    def who(self) -> str:
        return f"agent:{self.staff.pk}"

    async def connect(self) -> None:
        if not origin_allowed(self.scope):
            await self.close(code=4403)
            return
        staff, code = await database_sync_to_async(_agent_of)(self.scope)
        if staff is None:
            if code == CLOSE_SHOP_CHANGED:
                await self.accept()  # a refused handshake reaches the page with no code: this one must
            await self.close(code=code)
            return
        self.staff, self.checked_at = staff, time.monotonic()
        await self.join(events.agent_group(staff.pk), events.shop_agents_group(staff.shop_id))
        self.process = events.loop_origin()
        hello = await database_sync_to_async(_agent_connected)(staff, self.process)
        heartbeat().opened(staff.pk)
        await self.accept()
        await self.send_json(hello)

    async def disconnect(self, code: int) -> None:
        await super().disconnect(code)
        if hasattr(self, "process"):
            heartbeat().closed(self.staff.pk)
            await database_sync_to_async(_agent_disconnected)(self.staff, self.process)

    async def recheck(self) -> None:
        await database_sync_to_async(_agent_recheck)(self.scope["session"].session_key, self.staff)
        self.checked_at = time.monotonic()

    async def before_frame(self) -> None:
        if time.monotonic() - self.checked_at > SESSION_RECHECK:
            await self.recheck()

    async def access_changed(self, message: dict[str, Any]) -> None:
        """``events.AccessChanged``: check the session and the account now."""
        if self.closing:
            return
        try:
            await self.recheck()
        except Revoked as exc:
            await self.close_for(exc.code)

    async def on_resume(self, frame: Resume) -> None:
        if await self.throttled("resume", RESUME_RATE):
            return
        allowed = await database_sync_to_async(_agent_conversations)(self.staff.pk, list(frame.after))
        await self.replay(frame.after, allowed)

    async def on_send(self, frame: Send) -> None:
        await self.answer(await database_sync_to_async(_collecting)(_agent_send, self.staff.pk, frame))

    async def on_card(self, frame: Card) -> None:
        await self.answer(await database_sync_to_async(_collecting)(_agent_card, self.staff.pk, frame))

    async def answer(self, stored: tuple[Message, list[events.Sent]]) -> None:
        """The ack of a stored reply, then its events from this loop (no echo to this socket)."""
        message, sent = stored
        await self.send_json(_ack(message))
        own = {(message.conversation_id, message.client_msg_id): self.channel_name}
        await events.publish_now(sent, skip=_own_echo(sent, own))

    async def on_image(self, frame: Image) -> None:
        await self.answer(await database_sync_to_async(_collecting)(_agent_image, self.staff.pk, frame))


# --- buyer -------------------------------------------------------------------------------------------------


def _buyer_of(scope: Mapping[str, Any]) -> tuple[Buyer, float] | None:
    """The token's buyer and when the token expires."""
    token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
    return buyer_session(token) if token else None


def _buyer_hello(buyer: Buyer) -> dict[str, Any]:
    conv = (
        Conversation.objects.filter(buyer=buyer)
        .exclude(state=ConversationState.ENDED)
        .select_related("agent", "shop")
        .first()
    )
    open_conv = None
    if conv is not None:
        position, wait = services.queue_position(conv)
        open_conv = {
            "id": conv.pk,
            "state": conv.state,
            "last_seq": conv.last_seq,
            "agent_name": conv.agent.display_name if conv.agent_id and conv.agent else None,
            "position": position,
            "wait_seconds": wait,
        }
    target = services.rating_target(buyer)
    rating = None
    if target is not None and target.agent is not None:
        stars = target.rating.stars if hasattr(target, "rating") else None
        rating = {"conversation": target.pk, "agent_name": target.agent.display_name, "stars": stars}
    return {
        "type": "hello",
        "buyer_id": buyer.pk,
        "shop": buyer.shop.name,
        "conversation": open_conv,
        "rating": rating,
    }


def _buyer_send(buyer: Buyer, frame: Send | Image) -> services.BuyerSend:
    """The service's send of a frame: a text, or an image message (with the text transcripts show)."""
    if isinstance(frame, Image):
        return services.BuyerSend(buyer, attachments.image_text(), frame.client_msg_id, frame.attachment)
    return services.BuyerSend(buyer, frame.text, frame.client_msg_id)


def _buyer_sends(sends: Sequence[tuple[Buyer, Send | Image]]) -> list[Message | Exception]:
    """Store a batch of buyer sends (``services.post_buyer_messages``), then receive (``_receive``)."""
    results: list[Message | Exception] = list(
        services.post_buyer_messages([_buyer_send(buyer, frame) for buyer, frame in sends])
    )
    return _receive(sends, results)


def _receive(
    sends: Sequence[tuple[Buyer, Send | Image]], results: list[Message | Exception]
) -> list[Message | Exception]:
    """The stored messages of ``sends`` that landed in a chat still with the robot go to the reception hook
    (``routing.reception``: the robot, or a human). The messages are committed by then, so a failure to
    receive one is that send's result, not the batch's."""
    robot = _robot_chats(results)
    if not robot:
        return results
    results = list(results)
    wanted = {pid for i in robot if (pid := sends[i][1].product) is not None}
    products = {p.pk: p for p in Product.objects.filter(pk__in=wanted)} if wanted else {}
    received = []
    for i in robot:
        buyer, frame = sends[i]
        product = products.get(frame.product) if frame.product is not None else None
        if product is not None and product.shop_id != buyer.shop_id:
            product = None  # another shop's product page names nothing here
        received.append(Received(cast(Message, results[i]), buyer, product))
    for i, error in zip(robot, receiver()(received), strict=True):
        if error is not None:
            results[i] = error
    return results


def _robot_chats(results: Sequence[Message | BaseException]) -> list[int]:
    return [
        i
        for i, result in enumerate(results)
        if isinstance(result, Message) and result.conversation.state == ConversationState.ROBOT
    ]


async def store_buyer_sends(
    sends: Sequence[tuple[Buyer, Send | Image]],
) -> tuple[list[Message | Exception], list[events.Sent]]:
    """A batch of buyer sends stored and received, with the events to send from the loop: the plain case
    written from the event loop (``services.loopstore``; a worker thread only if a chat with the robot must
    receive), anything else in a worker thread (``_buyer_sends``)."""
    on_loop = await loopstore.post_buyer_messages_on_loop(
        [_buyer_send(buyer, frame) for buyer, frame in sends]
    )
    if on_loop is None:
        return await database_sync_to_async(_collecting)(_buyer_sends, sends)
    stored, sent = on_loop
    results: list[Message | Exception] = list(stored)
    if _robot_chats(results):
        try:
            results, more = await database_sync_to_async(_collecting)(_receive, sends, results)
        except BaseException:
            await events.publish_now(sent)  # the messages are committed: announced all the same
            raise
        sent = [*sent, *more]
    return results, sent


class GroupCommit:
    """Buyer sends of one event loop (one daphne process), stored in batches: whatever arrives while a batch
    is being written goes into the next one. There is no timer, so a lone message waits for nobody, and
    under load the commit, the locks and the thread hop are paid once a batch instead of once a message.
    A batch that fails as a whole (a deadlock, a lost database connection) is retried one send at a time,
    so one send's failure is only that send's; a resend after a partial failure is safe, since every buyer
    send has a ``client_msg_id``. Sends still waiting when the loop stops are cancelled."""

    LIMIT = 200

    def __init__(self) -> None:
        self.waiting: list[tuple[Buyer, Send | Image, str, asyncio.Future[Message]]] = []
        self.writer: asyncio.Task[None] | None = None

    async def post(self, buyer: Buyer, frame: Send | Image, channel: str) -> Message:
        """Store the send of the socket ``channel`` with the next batch; its events are sent from this loop
        once the batch is written (one pipeline a batch), all but its echo to ``channel``."""
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self.waiting.append((buyer, frame, channel, future))
        if self.writer is None:
            self.writer = asyncio.create_task(self._write())
        return await future

    async def _write(self) -> None:
        batch: list[tuple[Buyer, Send | Image, str, asyncio.Future[Message]]] = []
        try:
            while self.waiting:
                batch, self.waiting = self.waiting[: self.LIMIT], self.waiting[self.LIMIT :]
                sends = [(buyer, frame) for buyer, frame, _channel, _future in batch]
                results: list[Message | BaseException]
                sent: list[events.Sent] = []
                try:
                    stored, sent = await store_buyer_sends(sends)
                    results = list(stored)
                except Exception as exc:
                    results = [exc] if len(sends) == 1 else [await self._alone(send, sent) for send in sends]
                senders = {
                    (result.conversation_id, frame.client_msg_id): channel
                    for (_buyer, frame, channel, _future), result in zip(batch, results, strict=True)
                    if isinstance(result, Message)
                }
                publishing = events.publish_now(sent, skip=_own_echo(sent, senders))
                for (_buyer, _frame, _channel, future), result in zip(batch, results, strict=True):
                    if future.done():  # the socket closed meanwhile; the message is stored all the same
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                await publishing  # the acks go out as their sockets' tasks run; Redis meanwhile
        except BaseException as exc:  # cancelled (the server is stopping) or a bug: nobody waits forever
            for _buyer, _frame, _channel, future in [*batch, *self.waiting]:
                if future.done():
                    continue
                if isinstance(exc, Exception):
                    future.set_exception(exc)
                else:
                    future.cancel()
            self.waiting = []
            raise
        finally:
            self.writer = None

    async def _alone(
        self, send: tuple[Buyer, Send | Image], sent: list[events.Sent]
    ) -> Message | BaseException:
        """One send of a failed batch on its own; its events are added to ``sent``."""
        try:
            stored, more = await store_buyer_sends([send])
        except Exception as exc:
            return exc
        sent += more
        return stored[0]


_group_commits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupCommit]
_group_commits = weakref.WeakKeyDictionary()


def group_commit() -> GroupCommit:
    """This event loop's group commit (daphne runs one loop; each test's loop gets its own)."""
    loop = asyncio.get_running_loop()
    if loop not in _group_commits:
        _group_commits[loop] = GroupCommit()
    return _group_commits[loop]


def _buyer_rate(buyer: Buyer, frame: Rate) -> None:
    conv = Conversation.objects.filter(pk=frame.conversation, buyer=buyer).first()
    if conv is None:
        raise NotFound(_("No such conversation."))
    services.rate(buyer=buyer, conversation=conv, stars=frame.stars)


def _buyer_conversations(buyer: Buyer, ids: list[int]) -> dict[int, int]:
    return dict(Conversation.objects.filter(buyer=buyer, pk__in=ids).values_list("pk", "last_seq"))


class BuyerConsumer(ChatConsumer):
    """A buyer's chat page. At most BUYER_SOCKETS open at once per buyer (4429 beyond); the socket closes
    (4401) when its token expires; sends, resumes and pings are limited per buyer across every socket."""

    frames = {"ping": Frame, "resume": Resume, "send": Send, "image": Image, "rate": Rate}
    buyer: Buyer
    counted = False  # this socket is one of the buyer's counted sockets (routing.limits)

    def who(self) -> str:
        return f"buyer:{self.buyer.pk}"

    async def connect(self) -> None:
        if not origin_allowed(self.scope):
            await self.close(code=4403)
            return
        found = await database_sync_to_async(_buyer_of)(self.scope)
        if found is None:
            await self.close(code=4401)
            return
        self.buyer, expires_at = found
        if not await limits.open_socket(self.who(), self.channel_name, cap=BUYER_SOCKETS):
            await self.close(code=CLOSE_TOO_MANY)
            return
        self.counted = True
        await self.join(events.buyer_group(self.buyer.pk))
        await self.accept()
        self.expiry = asyncio.get_running_loop().call_later(
            max(0.0, expires_at - time.time()), lambda: asyncio.ensure_future(self.close_for(4401))
        )
        await self.send_json(await database_sync_to_async(_buyer_hello)(self.buyer))

    async def disconnect(self, code: int) -> None:
        await super().disconnect(code)
        if hasattr(self, "expiry"):
            self.expiry.cancel()
        if self.counted:
            await limits.close_socket(self.who(), self.channel_name)

    async def on_ping(self, frame: Frame) -> None:
        await super().on_ping(frame)
        await limits.touch_socket(self.who(), self.channel_name)

    async def on_resume(self, frame: Resume) -> None:
        if await self.throttled("resume", RESUME_RATE):
            return
        allowed = await database_sync_to_async(_buyer_conversations)(self.buyer, list(frame.after))
        await self.replay(frame.after, allowed)

    async def on_send(self, frame: Send) -> None:
        if await self.throttled("send", SEND_LIMIT, frame.client_msg_id):
            return
        await self.send_json(_ack(await group_commit().post(self.buyer, frame, self.channel_name)))

    async def on_image(self, frame: Image) -> None:
        if await self.throttled("send", SEND_LIMIT, frame.client_msg_id):
            return
        await self.send_json(_ack(await group_commit().post(self.buyer, frame, self.channel_name)))

    async def on_rate(self, frame: Rate) -> None:
        await database_sync_to_async(_buyer_rate)(self.buyer, frame)
