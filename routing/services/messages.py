"""Messages and the reply timer: buyers' messages (group commit), agents' replies and cards, and the robot's
and the system's messages. Persist first (one transaction, the conversation row locked, ``seq`` + 1), then
broadcast after commit."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.db import connection, models, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from backoffice.models import Buyer, Product, StaffAccount
from routing import attachments, events
from routing.access import require_chatting
from routing.models import (
    AgentState,
    AgentStatus,
    Conversation,
    ConversationState,
    Message,
    ReplyDelay,
    SenderKind,
)
from routing.services.arrivals import back_to_routing, route_pending
from routing.services.seats import open_for_update

MAX_TEXT = 2000
HISTORY_REPLY_WINDOW = timedelta(hours=72)


def check_text(text: str) -> str:
    if not text or not text.strip():
        raise Invalid(_("A message cannot be empty."))
    if len(text) > MAX_TEXT:
        raise Invalid(_("A message is limited to %(max)d characters.") % {"max": MAX_TEXT})
    return text


def _stored_sends(convs: list[Conversation], client_msg_ids: list[str]) -> dict[tuple[int, str], Message]:
    """(conversation id, client_msg_id) -> the message stored by an earlier send with that id: a resend
    writes nothing and changes no timer. Sends without an id are never resends."""
    wanted = {cid for cid in client_msg_ids if cid}
    if not wanted:
        return {}
    by_id = {conv.pk: conv for conv in convs}
    found = Message.objects.filter(conversation_id__in=by_id, client_msg_id__in=wanted).order_by()
    stored = {}
    for message in found:
        message.conversation = by_id[message.conversation_id]
        stored[message.conversation_id, message.client_msg_id] = message
    return stored


def append(
    conv: Conversation,
    *,
    sender: str,
    text: str,
    agent: StaffAccount | None,
    client_msg_id: str,
    card: dict[str, Any] | None = None,
    also: tuple[str, ...] = (),
) -> Message:
    """Store the next message of a locked conversation (seq + 1, saved with the fields named in ``also``
    in one UPDATE), then broadcast it after commit."""
    conv.last_seq += 1
    conv.save(update_fields=["last_seq", *also])
    message = Message.objects.create(
        conversation=conv,
        shop_id=conv.shop_id,
        seq=conv.last_seq,
        sender=sender,
        agent=agent,
        text=text,
        card=card,
        client_msg_id=client_msg_id,
    )
    events.publish(events.to_conversation(conv, events.message_event(message)))
    return message


# --- buyers ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuyerSend:
    """One buyer message for ``post_buyer_messages``."""

    buyer: Buyer
    text: str
    client_msg_id: str = ""
    attachment: int | None = None  # an image message: the buyer's upload it shows (routing.attachments)


def post_buyer_message(*, buyer: Buyer, text: str, client_msg_id: str = "") -> Message:
    """A buyer's message: ``post_buyer_messages`` with one, its error raised."""
    result = post_buyer_messages([BuyerSend(buyer, text, client_msg_id)])[0]
    if isinstance(result, DomainError):
        raise result
    return result


def post_buyer_messages(sends: Sequence[BuyerSend]) -> list[Message | DomainError]:
    """Buyers' messages stored in one transaction, in order, each result in the place of its send.

    This is group commit for the chat consumers: they hand over every buyer send waiting at that moment, so
    the locks, the resend check, the insert, the update and the commit are paid once a batch rather than once
    a message. The rules, per message:
    - the reply timer starts at a message when it was stopped, and keeps running from the first unanswered
      message otherwise;
    - a buyer without an open conversation (a new buyer, or after the end) starts a new one, with the robot;
    - a resend of a stored ``client_msg_id`` stores nothing, changes no timer and returns the stored message;
    - a message to an offline agent who takes no offline routing sends the chat back to routing;
    - an empty or too long text is returned as its error and stores nothing; the other sends go on;
    - an image message shows the buyer's own upload, which becomes the chat's (``_image_card``).

    Two storage strategies keep these rules (``BUYER_STORES``; the rule tests run on both): the ORM's, and on
    PostgreSQL one statement that locks, checks resends, inserts and updates (``_store_with_sql``). A batch
    with an image message takes the ORM's way.
    """
    results: dict[int, Message | DomainError] = {}
    todo: list[int] = []
    for i, send in enumerate(sends):
        try:
            check_text(send.text)
            _check_image(send)
        except DomainError as exc:
            results[i] = exc
        else:
            todo.append(i)
    rerouted: set[int] = set()
    if todo:
        store = BUYER_STORES[buyer_store()]
        if any(sends[i].attachment is not None for i in todo):
            # An image claims its upload for the locked conversation (``_image_card``): the ORM's way, which
            # holds that rule; images are rare beside text.
            store = _store_with_orm
        try:
            rerouted = _store_batch(store, [(i, sends[i]) for i in todo], results)
        except _Declined:  # a race the statement does not number (see _store_with_sql): the ORM's way
            rerouted = _store_batch(_store_with_orm, [(i, sends[i]) for i in todo], results)
    for shop_id in sorted(rerouted):
        route_pending(shop_id=shop_id)
    return [results[i] for i in range(len(sends))]


# A buyer-message storage strategy: (index, send) pairs of checked sends -> the new messages in order, each
# with whether it started the reply timer, and the conversations whose agent is gone (``_agent_gone``);
# ``results`` gets every send's message (a resend's: the stored one). Runs in the batch's transaction.
BuyerStore = Callable[
    [list[tuple[int, BuyerSend]], dict[int, Message | DomainError]],
    tuple[list[tuple[Message, bool]], list[Conversation]],
]


class _Declined(Exception):
    """The SQL strategy met what only the ORM strategy handles; the batch's transaction is rolled back."""


def _store_batch(
    store: BuyerStore, todo: list[tuple[int, BuyerSend]], results: dict[int, Message | DomainError]
) -> set[int]:
    """One strategy's transaction: the messages stored, their events published after commit, the chats of
    gone agents back to routing; the shops to route."""
    with transaction.atomic():
        new, gone = store(todo, results)
        events.publish(_message_events(new))  # published together: one hand-over after commit
        return back_to_routing(gone) if gone else set()


def _store_with_orm(
    todo: list[tuple[int, BuyerSend]], results: dict[int, Message | DomainError]
) -> tuple[list[tuple[Message, bool]], list[Conversation]]:
    """The ORM's way: lock, resend check, one INSERT, an UPDATE per distinct message count."""
    convs = _lock_open_conversations([send.buyer for _i, send in todo])
    stored = _stored_sends(list(convs.values()), [send.client_msg_id for _i, send in todo])
    now = timezone.now()
    new = _next_messages([(i, send, convs[send.buyer.pk]) for i, send in todo], stored, now, results)
    Message.objects.bulk_create([message for message, _started in new])
    _save_batch(new, now)
    changed = {message.conversation_id: message.conversation for message, _started in new}
    gone = [c for c in changed.values() if _agent_gone(c, _routing_of(getattr(c.agent, "agent_state", None)))]
    return new, gone


def _next_messages(
    todo: list[tuple[int, BuyerSend, Conversation]],
    stored: dict[tuple[int, str], Message],
    now: datetime,
    results: dict[int, Message | DomainError],
) -> list[tuple[Message, bool]]:
    """The unsaved messages of the sends (index, send, its locked conversation) in order, each with whether
    it started the reply timer; a resend's result is the stored message. ``results`` gets each one."""
    new: list[tuple[Message, bool]] = []
    for i, send, conv in todo:
        if (conv.pk, send.client_msg_id) in stored:
            results[i] = stored[conv.pk, send.client_msg_id]
            continue
        card, refused = _image_card(send, conv)
        if refused is not None:
            results[i] = refused
            continue
        timer_started = conv.state == ConversationState.ACTIVE and conv.waiting_since is None
        if timer_started:
            conv.waiting_since = now
        conv.last_buyer_message_at = now
        conv.silent_since = None  # the buyer spoke: no auto-end before the next answer
        conv.last_seq += 1
        message = Message(
            conversation=conv,
            shop_id=conv.shop_id,
            seq=conv.last_seq,
            sender=SenderKind.BUYER,
            text=send.text,
            card=card,
            client_msg_id=send.client_msg_id,
        )
        if send.client_msg_id:
            stored[conv.pk, send.client_msg_id] = message  # the same send twice in one batch
        results[i] = message
        new.append((message, timer_started))
    return new


def _check_image(send: BuyerSend) -> None:
    """An image send names an upload of the buyer's (checked again, and claimed, in the transaction)."""
    if send.attachment is not None and not attachments.uploaded_by(send.buyer, send.attachment):
        raise NotFound(_("No such image."))


def _image_card(send: BuyerSend, conv: Conversation) -> tuple[dict[str, Any] | None, DomainError | None]:
    """The card of an image send, claimed for the (locked) conversation, or why it is refused."""
    if send.attachment is None:
        return None, None
    try:
        return attachments.claim_for_buyer(conv, send.buyer, send.attachment), None
    except DomainError as exc:
        return None, exc


def _message_events(new: list[tuple[Message, bool]]) -> list[tuple[str, events.Event]]:
    sends: list[tuple[str, events.Event]] = []
    for message, timer_started in new:
        conv = message.conversation
        sends += events.to_conversation(conv, events.message_event(message))
        if timer_started:
            timer = events.Timer(conversation=conv.pk, waiting_since=conv.waiting_since)
            sends += events.to_conversation(conv, timer, buyer=False)
    return sends


def _save_batch(new: list[tuple[Message, bool]], now: datetime) -> None:
    """Write what a batch changed on its (locked) conversations in one UPDATE per distinct message count, not
    one per conversation: ``last_seq`` goes up by the number of messages each got, and the reply timers that
    started, started now. (Django's ``bulk_update`` builds a CASE per row and costs more than the database
    work; every statement saved is a round trip off each message's latency.)"""
    added = Counter(message.conversation_id for message, _started in new)
    by_count: dict[int, list[int]] = {}
    for conv_id, count in added.items():
        by_count.setdefault(count, []).append(conv_id)
    started = {message.conversation_id for message, timer_started in new if timer_started}
    for count, ids in by_count.items():
        changes: dict[str, Any] = {
            "last_seq": F("last_seq") + count,
            "last_buyer_message_at": now,
            "silent_since": None,
        }
        if timers := started.intersection(ids):
            changes["waiting_since"] = Case(When(pk__in=timers, then=Value(now)), default=F("waiting_since"))
        Conversation.objects.filter(pk__in=ids).update(**changes)


def _lock_open_conversations(buyers: Sequence[Buyer]) -> dict[int, Conversation]:
    """Buyer id -> the buyer's open conversation, row-locked in id order (with its agent's routing state,
    unlocked). A buyer without one gets a new conversation with the robot; a conversation another process
    opened for the buyer at the same moment is taken instead (the one-open-session constraint)."""

    def locked(ids: list[int]) -> dict[int, Conversation]:
        # Only what a batch reads: building whole conversation, account and state rows cost a fifth of it.
        rows = open_for_update(ids).only(
            "shop",
            "buyer",
            "state",
            "agent",
            "last_seq",
            "waiting_since",
            "last_buyer_message_at",
            "agent__agent_state__status",
            "agent__agent_state__routing",
            "agent__agent_state__offline_routing",
        )
        return {conv.buyer_id: conv for conv in rows}

    by_id = {buyer.pk: buyer for buyer in buyers}
    convs = locked(sorted(by_id))
    missing = [buyer for pk, buyer in sorted(by_id.items()) if pk not in convs]
    if missing:
        Conversation.objects.bulk_create(
            [Conversation(shop_id=b.shop_id, buyer=b, state=ConversationState.ROBOT) for b in missing],
            ignore_conflicts=True,
        )
        convs |= locked([buyer.pk for buyer in missing])
    return convs


def _agent_gone(conv: Conversation, state: AgentRouting | None) -> bool:
    """The chat's agent (whose routing state is ``state``) is offline and takes no offline routing, so a
    buyer's message sends the chat back to routing. An agent without a routing state never came online:
    offline, routed (the defaults)."""
    if conv.state != ConversationState.ACTIVE or conv.agent_id is None:
        return False
    if state is None:
        defaults = AgentState(staff_id=conv.agent_id)
        state = AgentRouting(defaults.status, defaults.routing, defaults.offline_routing)
    return state.status == AgentStatus.OFFLINE and state.routing and not state.offline_routing


class AgentRouting(NamedTuple):
    """What ``_agent_gone`` reads of an agent's routing state (``AgentState``): a tuple, since building the
    model for every row of a batch cost more than the rule."""

    status: str
    routing: bool
    offline_routing: bool


def _routing_of(state: AgentState | None) -> AgentRouting | None:
    return None if state is None else AgentRouting(state.status, state.routing, state.offline_routing)


def _store_with_sql(
    todo: list[tuple[int, BuyerSend]], results: dict[int, Message | DomainError]
) -> tuple[list[tuple[Message, bool]], list[Conversation]]:
    """PostgreSQL's way: one statement (``_batch_sql``) locks the buyers' open conversations, leaves out the
    resends, numbers and inserts the new messages and updates ``last_seq`` and the timers, so a batch is
    BEGIN, this statement and COMMIT, and the events are built from the rows it returns. The rare rest takes
    the ORM's way in the same transaction: a buyer without an open conversation, and the read of a resend's
    stored message. A resend that committed elsewhere while this statement waited for the lock is not in
    the statement's snapshot; ``ON CONFLICT`` stores it once all the same, but it would leave a gap in the
    numbers, so then the whole batch is declined (rolled back) and stored the ORM's way."""
    now = timezone.now()
    rows, first = _first_sends(todo)
    sql, params = _batch_sql([m for _i, _send, m in rows], [send.buyer.pk for _i, send, _m in rows], now)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    read = _read_batch_rows(rows, found, now, results)
    new, gone = read.new, read.gone
    if read.missing:  # the ORM's way for them (a new conversation each), in this transaction
        more, more_gone = _store_with_orm(read.missing, results)
        new, gone = new + more, gone + more_gone
    _resent_and_repeated(todo, read.resent, first, results)
    return new, gone


@dataclass
class _BatchRows:
    """What the rows of ``_batch_sql`` say: the new messages in order (each with whether it started the reply
    timer), the conversations whose agent is gone (``_agent_gone``), the sends of buyers without an open
    conversation, and the resends of stored messages (with their conversation)."""

    new: list[tuple[Message, bool]]
    gone: list[Conversation]
    missing: list[tuple[int, BuyerSend]]
    resent: list[tuple[int, BuyerSend, Conversation]]


def _read_batch_rows(
    rows: list[tuple[int, BuyerSend, Message]],
    found: Sequence[tuple[Any, ...]],
    now: datetime,
    results: dict[int, Message | DomainError],
) -> _BatchRows:
    """The messages and conversations of ``_batch_sql``'s rows (``rows``: the sends of ``_first_sends``, in
    the statement's order); ``results`` gets each stored message. Raises ``_Declined`` when a resend raced
    the statement (see ``_store_with_sql``). Reads nothing from the database: both the worker thread's
    strategy and the event loop's (``routing.services.loopstore``) build their results with it."""
    new: list[tuple[Message, bool]] = []
    convs: dict[int, tuple[Conversation, bool, AgentRouting | None]] = {}  # conv, timer stopped, state
    missing: list[tuple[int, BuyerSend]] = []
    resent: list[tuple[int, BuyerSend, Conversation]] = []
    for (i, send, message), row in zip(rows, found, strict=True):
        conv_id, last_seq, seq, message_id = row[1], row[5], row[6], row[7]
        if conv_id is None:
            missing.append((i, send))
            continue
        if conv_id not in convs:
            convs[conv_id] = _conversation_of_row(send, row)
        conv, timer_stopped, _state = convs[conv_id]
        if seq is None:  # a resend of a message stored before: read below
            resent.append((i, send, conv))
            continue
        if message_id is None:
            raise _Declined
        started = timer_stopped and conv.last_seq == last_seq  # the chat's first new message restarts it
        message.pk, message.seq, message.conversation = message_id, seq, conv
        if started:
            conv.waiting_since = now
        conv.last_seq, conv.last_buyer_message_at, conv.silent_since = seq, now, None
        results[i] = message
        new.append((message, started))
    changed = {message.conversation_id for message, _started in new}
    gone = [convs[pk][0] for pk in sorted(changed) if _agent_gone(convs[pk][0], convs[pk][2])]
    return _BatchRows(new, gone, missing, resent)


def _resent_and_repeated(
    todo: list[tuple[int, BuyerSend]],
    resent: list[tuple[int, BuyerSend, Conversation]],
    first: dict[tuple[int, str], int],
    results: dict[int, Message | DomainError],
) -> None:
    """The results of the sends the statement left out: a resend's stored message (one read), and a send
    repeated in the batch gets its first one's."""
    if resent:
        stored = _stored_sends([c for _i, _s, c in resent], [s.client_msg_id for _i, s, _c in resent])
        for i, send, conv in resent:
            results[i] = stored[conv.pk, send.client_msg_id]
    for i, send in todo:
        if i not in results:
            results[i] = results[first[send.buyer.pk, send.client_msg_id]]


def _first_sends(
    todo: list[tuple[int, BuyerSend]],
) -> tuple[list[tuple[int, BuyerSend, Message]], dict[tuple[int, str], int]]:
    """The sends of a batch but the repeats of a ``client_msg_id`` (each with its unsaved message), and
    (buyer, client_msg_id) -> the index of the first send with it."""
    first: dict[tuple[int, str], int] = {}
    rows: list[tuple[int, BuyerSend, Message]] = []
    for i, send in todo:
        if send.client_msg_id:
            if (send.buyer.pk, send.client_msg_id) in first:
                continue
            first[send.buyer.pk, send.client_msg_id] = i
        message = Message(
            shop_id=send.buyer.shop_id,
            sender=SenderKind.BUYER,
            text=send.text,
            client_msg_id=send.client_msg_id,
        )
        rows.append((i, send, message))
    return rows, first


def _conversation_of_row(
    send: BuyerSend, row: tuple[Any, ...]
) -> tuple[Conversation, bool, AgentRouting | None]:
    """The locked conversation a row of ``_batch_sql`` names, as it was before the batch; whether its reply
    timer was stopped; its agent's routing state (None without one)."""
    conv_id, state, agent_id, waiting_since, last_seq = row[1:6]
    values = {
        "id": conv_id,
        "shop_id": send.buyer.shop_id,
        "buyer_id": send.buyer.pk,
        "state": state,
        "agent_id": agent_id,
        "last_seq": last_seq,
        "waiting_since": waiting_since,
    }
    fields = _row_fields()
    conv = Conversation.from_db(connection.alias, fields, [values[name] for name in fields])
    agent_state = None if row[8] is None else AgentRouting(*row[8:11])
    return conv, state == ConversationState.ACTIVE and waiting_since is None, agent_state


@functools.cache
def _row_fields() -> list[str]:
    """The fields of a conversation that ``_conversation_of_row`` loads, in the model's order (as
    ``Model.from_db`` takes them); the others are deferred: loaded if read."""
    loaded = {"id", "shop_id", "buyer_id", "state", "agent_id", "last_seq", "waiting_since"}
    return [f.attname for f in Conversation._meta.concrete_fields if f.attname in loaded]


def _batch_sql(messages: list[Message], buyers: list[int], now: datetime) -> tuple[str, list[Any]]:
    """The statement of ``_store_with_sql`` for unsaved messages of the given buyers (one each, in order),
    and its parameters. One row a message: its position, its buyer's open conversation (id, state, agent,
    reply timer, ``last_seq`` before the batch; all null without one), its ``seq`` (null: a resend of a
    stored message, left out), the stored id (null: not inserted, a resend that raced this statement), and
    the agent's routing state (status, routing, offline routing; null without one).

    The messages' columns are the model's concrete fields (each prepared by its own field, so a new column
    is written too), except the id, the conversation and ``seq``, which the statement fills in."""
    fields = _message_fields()
    params: list[Any] = []
    for n, (message, buyer) in enumerate(zip(messages, buyers, strict=True)):
        params += [n, buyer]
        params += [f.get_db_prep_save(f.pre_save(message, add=True), connection) for f in fields]
    return _batch_statement(len(messages)), [
        *params,
        ConversationState.ENDED,
        now,
        ConversationState.ACTIVE,
        now,
    ]


@functools.cache
def _message_fields() -> list[models.Field[Any, Any]]:
    """The message's columns ``_batch_sql`` writes: all but the id, the conversation and ``seq``."""
    return [f for f in Message._meta.concrete_fields if f.name not in ("id", "conversation", "seq")]


@functools.lru_cache(maxsize=256)
def _batch_statement(count: int) -> str:
    """The text of ``_batch_sql``'s statement for ``count`` messages (made once a count: it is the same for
    every batch of that size)."""
    qn = connection.ops.quote_name
    msg, conv, state = Message._meta, Conversation._meta, AgentState._meta
    pk = qn(conv.pk.column)
    fields = _message_fields()
    columns = [qn(f.column) for f in fields]
    casts = ", ".join(f"%s::{f.db_type(connection)}" for f in fields)
    values = [f"(%s::integer, %s::bigint, {casts})"] * count
    c = {name: _column(Conversation, name) for name in ("buyer", "state", "agent", "last_seq")}
    cid, seq, to_conv = (_column(Message, n) for n in ("client_msg_id", "seq", "conversation"))
    timer = _column(Conversation, "waiting_since")
    # Identifiers come from the models (quoted), every value is a parameter.
    sql = f"""
WITH v (ord, buyer, {", ".join(columns)}) AS (VALUES {", ".join(values)}),
locked AS MATERIALIZED (
    SELECT c.{pk} AS id, c.{c["buyer"]} AS buyer, c.{c["state"]} AS state, c.{c["agent"]} AS agent,
        c.{c["last_seq"]} AS last_seq, c.{timer} AS waiting_since
    FROM {qn(conv.db_table)} c
    WHERE c.{c["buyer"]} IN (SELECT buyer FROM v) AND c.{c["state"]} <> %s
    ORDER BY c.{pk} FOR UPDATE OF c
),
fresh AS MATERIALIZED (
    SELECT v.*, l.id AS conv, l.last_seq + row_number() OVER (PARTITION BY l.id ORDER BY v.ord) AS seq
    FROM v JOIN locked l ON l.buyer = v.buyer
    WHERE v.{cid} = '' OR NOT EXISTS (
        SELECT 1 FROM {qn(msg.db_table)} m WHERE m.{to_conv} = l.id AND m.{cid} = v.{cid}
    )
),
ins AS (
    INSERT INTO {qn(msg.db_table)} ({to_conv}, {seq}, {", ".join(columns)})
    SELECT conv, seq, {", ".join(columns)} FROM fresh ORDER BY ord
    ON CONFLICT ({to_conv}, {cid}) WHERE NOT ({cid} = '') DO NOTHING
    RETURNING {qn(msg.pk.column)} AS id, {to_conv} AS conv, {seq} AS seq
),
upd AS (
    UPDATE {qn(conv.db_table)} c SET
        {c["last_seq"]} = n.seq,
        {_column(Conversation, "last_buyer_message_at")} = %s,
        {_column(Conversation, "silent_since")} = NULL,
        {timer} = CASE WHEN l.state = %s AND l.waiting_since IS NULL THEN %s ELSE l.waiting_since END
    FROM (SELECT conv, max(seq) AS seq FROM ins GROUP BY conv) n JOIN locked l ON l.id = n.conv
    WHERE c.{pk} = n.conv
)
SELECT v.ord, l.id, l.state, l.agent, l.waiting_since, l.last_seq, f.seq, i.id,
    s.{_column(AgentState, "status")}, s.{_column(AgentState, "routing")},
    s.{_column(AgentState, "offline_routing")}
FROM v
LEFT JOIN locked l ON l.buyer = v.buyer
LEFT JOIN fresh f ON f.ord = v.ord
LEFT JOIN ins i ON i.conv = f.conv AND i.seq = f.seq
LEFT JOIN {qn(state.db_table)} s ON s.{_column(AgentState, "staff")} = l.agent
ORDER BY v.ord"""  # noqa: S608
    return sql


def _column(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)
    return connection.ops.quote_name(field.column)


BUYER_STORES: dict[str, BuyerStore] = {"orm": _store_with_orm, "postgresql": _store_with_sql}


def buyer_store() -> str:
    """The strategy ``post_buyer_messages`` stores with: PostgreSQL's statement, else the ORM's."""
    return "postgresql" if connection.vendor == "postgresql" else "orm"


# --- agents ------------------------------------------------------------------------------------------------


def _check_repliable(conv: Conversation, agent: StaffAccount, now: datetime) -> None:
    if conv.agent_id != agent.pk:
        raise Forbidden(_("This chat is not yours."))
    if conv.state == ConversationState.ENDED:
        if conv.ended_at is None or now - conv.ended_at > HISTORY_REPLY_WINDOW:
            raise Invalid(_("This chat ended more than 72 hours ago and can no longer be replied to."))
    elif conv.state not in (ConversationState.ACTIVE, ConversationState.POOL):
        raise Conflict(_("This chat is not with an agent."))


def post_agent_message(
    *,
    agent: StaffAccount,
    conversation: Conversation,
    text: str,
    client_msg_id: str = "",
    card: dict[str, Any] | None = None,
) -> Message:
    """An agent's reply: stops the reply timer and stores the response delay (the first one separately).
    Only the chat's agent may reply (the holder of a message-pool chat too: its reply times nothing, the
    chat stays in the pool until it is handed out); an ended chat is repliable for 72 hours, not after."""
    check_text(text)
    if conversation.shop_id != agent.shop_id:
        raise NotFound(_("No such conversation in this shop."))
    require_chatting(agent)
    with transaction.atomic():
        conv = Conversation.objects.select_for_update().get(pk=conversation.pk)
        now = timezone.now()
        _check_repliable(conv, agent, now)
        if (earlier := _stored_sends([conv], [client_msg_id]).get((conv.pk, client_msg_id))) is not None:
            return earlier
        waited_from = conv.waiting_since if conv.state == ConversationState.ACTIVE else None
        also: tuple[str, ...] = ()
        if conv.state == ConversationState.ACTIVE:  # answered: the auto-end clock runs from here
            conv.silent_since = now
            also = ("silent_since",)
        seconds, first = 0.0, False
        if waited_from is not None:  # the reply stops the timer, saved with the message's seq
            seconds = (now - waited_from).total_seconds()
            first = conv.first_response_seconds is None
            conv.waiting_since = None
            if first:
                conv.first_response_seconds = seconds
            also = (*also, "waiting_since", "first_response_seconds")
        message = append(
            conv,
            sender=SenderKind.AGENT,
            text=text,
            agent=agent,
            client_msg_id=client_msg_id,
            card=card,
            also=also,
        )
        if waited_from is not None:
            ReplyDelay.objects.create(
                conversation=conv,
                agent=agent,
                waited_from=waited_from,
                replied_at=now,
                seconds=seconds,
                is_first=first,
            )
            events.publish(
                events.to_conversation(
                    conv, events.Timer(conversation=conv.pk, waiting_since=None), buyer=False
                )
            )
    return message


def post_agent_card(
    *, agent: StaffAccount, conversation: Conversation, kind: str, object_id: int, client_msg_id: str = ""
) -> Message:
    """The agent sends a product card (a product of the shop) into an active chat; the text carries the
    product's title for clients and transcripts without cards."""
    if kind != "product":
        raise Invalid(_("Unknown card kind %(kind)s.") % {"kind": kind})
    product = Product.objects.filter(pk=object_id, shop_id=agent.shop_id).first()
    if product is None:
        raise NotFound(_("No such product in this shop."))
    card = {
        "kind": "product",
        "id": product.pk,
        "title": product.title,
        "price": str(product.price),
        "image_url": product.image_url,
        "url": product.url,
    }
    return post_agent_message(
        agent=agent, conversation=conversation, text=product.title, client_msg_id=client_msg_id, card=card
    )


# --- the robot and the system ------------------------------------------------------------------------------


def _post_unattended(
    conversation: Conversation, *, sender: str, text: str, card: dict[str, Any] | None, client_msg_id: str
) -> Message:
    check_text(text)
    with transaction.atomic():
        conv = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conv.state == ConversationState.ENDED:
            raise Conflict(_("This conversation has already ended."))
        if (earlier := _stored_sends([conv], [client_msg_id]).get((conv.pk, client_msg_id))) is not None:
            return earlier
        return append(conv, sender=sender, text=text, agent=None, client_msg_id=client_msg_id, card=card)


def post_robot_message(
    *, conversation: Conversation, text: str, card: dict[str, Any] | None = None, client_msg_id: str = ""
) -> Message:
    """The robot speaks into an open conversation (marked as the robot's in every transcript). It touches no
    reply timer: robot time never counts as a human's. A resend with the same ``client_msg_id`` stores
    nothing new; an ended conversation gets nothing (409)."""
    return _post_unattended(
        conversation, sender=SenderKind.ROBOT, text=text, card=card, client_msg_id=client_msg_id
    )


def post_system_message(
    *, conversation: Conversation, text: str, card: dict[str, Any] | None = None, client_msg_id: str = ""
) -> Message:
    """A system notice (a hand-over, an FAQ answer, a self-service card) into an open conversation, with the
    robot's rules: no timer, idempotent on ``client_msg_id``, nothing into an ended conversation."""
    return _post_unattended(
        conversation, sender=SenderKind.SYSTEM, text=text, card=card, client_msg_id=client_msg_id
    )


def post_system_message_to_buyer(
    *, buyer: Buyer, text: str, card: dict[str, Any] | None = None, client_msg_id: str = ""
) -> Message:
    """A system notice to a buyer whether or not they have an open conversation (self-service actions,
    follow-up messages): into the open one, else into a new one with the robot. Like ``post_system_message``
    it starts no timer and opens no human session by itself (the buyer's reply goes to reception as any
    first message does); a resend with the same ``client_msg_id`` stores nothing new."""
    check_text(text)
    with transaction.atomic():
        conv = _lock_open_conversations([buyer])[buyer.pk]
        if (earlier := _stored_sends([conv], [client_msg_id]).get((conv.pk, client_msg_id))) is not None:
            return earlier
        return append(
            conv, sender=SenderKind.SYSTEM, text=text, agent=None, client_msg_id=client_msg_id, card=card
        )
