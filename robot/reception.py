"""The robot's full-auto reception: the receiver routing calls (``ROUTING_RECEPTION``, see
``routing/reception.py``) with the buyer messages stored in chats still with the robot.

Who the robot receives (decided at a chat's first message, kept in its ``RobotSession``; a chat the robot
has when the shop switches it off goes to a human at its next message):
- full-auto reception off for the shop (``robot.switch.full_auto_on``): nobody; the chat goes to a human
  as without a robot (``routing.reception.to_human``, reason "no robot");
- a buyer who takes the new-buyer priority entry (routing's rule, ``services.takes_priority_entry``) skips
  the robot;
- the diversion rules (``robot.diversion.robot_takes``) send the other part straight to humans.

What the robot does with each message of a chat it received, in order:
1. the buyer asks for a human (转人工, 人工客服, 找客服..., the chat page's button sends 转人工) -> hand-off,
   reason "the buyer asked";
2. a complaint (the complaint intent, confident) or an angry message (``robot.sentiment``) -> hand-off at
   once, reason "complaint";
3. a confident match (score at or above the shop's threshold): the entry's answer, rendered with phrases'
   renderer, or the data-aware answer of its scenario (``robot.scenarios``), which may hand over when data is
   missing or a human must act (reason "the robot could not answer");
4. otherwise the robot is unsure: the question is kept (``robot.unanswered``), and after ``unsure_limit``
   unsure answers in a row (default 2) the chat is handed over (reason "could not answer"); before that the
   robot asks the buyer to rephrase.
The first message a chat gets from the robot is its opening text. A hand-off carries the intent of the whole
robot conversation (``conversation_intent``) and the reason, and leaves a system message in the transcript
saying both, so the agent sees why and what the buyer wanted; the robot part stays in the same conversation,
marked as the robot's.

Idempotent: a message is read once (its ``RobotTurn``); a resend reaches the receiver again and writes
nothing, only a hand-off that did not complete is made again. The robot's replies carry ``client_msg_id``s
derived from the message. Robot time never counts as a human's: robot messages touch no reply timer and the
human's timer starts at assignment (routing).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from backoffice.text import normalize
from phrases.services import render_phrase
from robot import diversion, matching, scenarios, sentiment, switch, unanswered
from robot.models import RobotSession, RobotSettings, RobotTurn, TurnOutcome
from routing import services
from routing.intents import Intent
from routing.models import ArrivalReason, Conversation, ConversationState, Message
from routing.reception import Received, to_human

# Words with which buyers ask for a human (normalized: simplified, half-width, lower case).
HUMAN_WORDS = (
    "转人工",
    "人工客服",
    "人工服务",
    "找人工",
    "要人工",
    "接人工",
    "真人",
    "找客服",
    "要客服",
    "叫客服",
    "客服呢",
    "活人",
    "人工",
    "zrg",
)
NOT_HUMAN = ("不用转人工", "不要转人工", "不用人工", "不要人工", "不找人工", "不需要人工")
# Intents that say nothing about what the buyer wants: left out of the conversation's intent.
NEUTRAL_INTENTS = {"", Intent.GREETING.value, Intent.ASK_HUMAN.value}


def asks_for_human(text: str) -> bool:
    """The buyer asks for a human in so many words (a negated request such as 不用转人工 does not)."""
    norm = normalize(text).replace(" ", "")
    if any(word in norm for word in NOT_HUMAN):
        return False
    return any(word in norm for word in HUMAN_WORDS)


@dataclass(frozen=True)
class Reading:
    """What the robot made of one message: its intent (empty: unsure), the intent's confidence, the entry it
    would answer with and that entry's score."""

    intent: str
    confidence: float
    entry: Any | None  # a KnowledgeEntry
    score: float


def conversation_intent(turns: Sequence[tuple[str, float]]) -> str:
    """The intent of a whole robot conversation: per intent the sum of its messages' confidences, greetings
    and requests for a human left out; a tie goes to the intent read last. Empty when no message said what
    the buyer wants."""
    totals: dict[str, float] = defaultdict(float)
    last: dict[str, int] = {}
    for i, (intent, confidence) in enumerate(turns):
        if intent in NEUTRAL_INTENTS:
            continue
        totals[intent] += confidence
        last[intent] = i
    if not totals:
        return ""
    return max(totals, key=lambda intent: (round(totals[intent], 6), last[intent]))


def _settings(shop_id: int) -> RobotSettings:
    """The shop's robot settings; a shop without a row has the defaults (the robot off), nothing written."""
    return RobotSettings.objects.filter(shop_id=shop_id).first() or RobotSettings(shop_id=shop_id)


def _read(item: Received, robot: RobotSettings) -> Reading:
    message = item.message
    if message.card:  # an image: nothing the robot can read
        return Reading("", 0.0, None, 0.0)
    product_id = message.conversation.source_product_id
    found = matching.match(shop_id=message.shop_id, text=message.text, product_id=product_id, limit=3)
    best = found.confident(robot.threshold)
    return Reading(
        found.intent, found.intent_confidence, best.entry if best else None, best.score if best else 0.0
    )


def _render(text: str, conversation: Conversation) -> str:
    context = {"buyer_nickname": conversation.buyer.nickname, "shop_name": conversation.shop.name}
    if conversation.source_product_id is not None and conversation.source_product is not None:
        context["product_title"] = conversation.source_product.title
    return render_phrase(content=text, context=context).text


def _reason_text(reason: str, intent: str) -> str:
    """The system notice of a hand-off, in the shop's language (it stays in the transcript)."""
    labels = {
        ArrivalReason.BUYER_ASKED: _("the buyer asked for a human"),
        ArrivalReason.ROBOT_UNSURE: _("the robot could not answer"),
        ArrivalReason.COMPLAINT: _("a complaint or an unhappy buyer"),
    }
    with translation.override(settings.LANGUAGE_CODE):
        why = str(labels.get(ArrivalReason(reason), ArrivalReason(reason).label))
        if intent:
            return _("Handed over by the robot: %(reason)s; what the buyer wants: %(intent)s.") % {
                "reason": why,
                "intent": Intent(intent).label,
            }
        return _("Handed over by the robot: %(reason)s.") % {"reason": why}


@dataclass
class _Step:
    """What one message led to: a hand-off to make after commit (its reason), or nothing more."""

    hand_over: str | None = None


def _card(entry: Any) -> dict[str, Any] | None:
    """The product card an entry's answer carries, if any."""
    product = entry.card_product if entry.card_product_id else None
    if product is None:
        return None
    return {
        "kind": "product",
        "id": product.pk,
        "title": product.title,
        "price": str(product.price),
        "image_url": product.image_url,
        "url": product.url,
    }


def entry_answer(entry: Any, conversation: Conversation) -> scenarios.ScenarioAnswer:
    """What the robot answers with an entry in this conversation: its scenario's data-aware answer, else
    its answer text with the quick-phrase variables filled (phrases' renderer)."""
    data = scenarios.answer(scenario=entry.scenario, conversation=conversation)
    return data if data is not None else scenarios.ScenarioAnswer(_render(entry.answer, conversation))


def _answer(conv: Conversation, session: RobotSession, reading: Reading, message: Message) -> _Step:
    """A confident match: the entry's answer (or its scenario's, from the buyer's data)."""
    entry = reading.entry
    assert entry is not None
    said = entry_answer(entry, conv)
    services.post_robot_message(conversation=conv, text=said.text, client_msg_id=f"robot-{message.pk}")
    if (card := _card(entry)) is not None:  # a card shows instead of a text: its own message, after it
        services.post_robot_message(
            conversation=conv, text=card["title"], card=card, client_msg_id=f"robot-card-{message.pk}"
        )
    session.answered += 1
    session.unsure_streak = 0
    if said.hand_over:
        return _Step(hand_over=ArrivalReason.ROBOT_UNSURE)
    return _Step()


def _decide(
    conv: Conversation, session: RobotSession, robot: RobotSettings, item: Received, reading: Reading
) -> tuple[str, _Step]:
    """Rules 1-4 of the module for one message: the turn's outcome and what follows."""
    text = item.message.text
    if not item.message.card and (asks_for_human(text) or _is(reading, Intent.ASK_HUMAN)):
        return TurnOutcome.HANDED_OVER, _Step(hand_over=ArrivalReason.BUYER_ASKED)
    if not item.message.card and (_is(reading, Intent.COMPLAINT) or sentiment.is_angry(text)):
        return TurnOutcome.HANDED_OVER, _Step(hand_over=ArrivalReason.COMPLAINT)
    if reading.entry is not None:
        step = _answer(conv, session, reading, item.message)
        return (TurnOutcome.HANDED_OVER if step.hand_over else TurnOutcome.ANSWERED), step
    session.unsure_streak += 1
    if not item.message.card:
        unanswered.record(message=item.message)
    if session.unsure_streak >= robot.unsure_limit:
        return TurnOutcome.HANDED_OVER, _Step(hand_over=ArrivalReason.ROBOT_UNSURE)
    services.post_robot_message(
        conversation=conv, text=_render(robot.unsure_text, conv), client_msg_id=f"robot-{item.message.pk}"
    )
    return TurnOutcome.UNSURE, _Step()


def _is(reading: Reading, intent: Intent) -> bool:
    """The message's entry (confident) or its detected intent is ``intent``."""
    if reading.entry is not None:
        return bool(reading.entry.intent == intent)
    return reading.intent == intent


def _welcome(conv: Conversation, robot: RobotSettings) -> RobotSession:
    """The chat's robot session, opened (with the opening text) at its first message."""
    session, created = RobotSession.objects.get_or_create(
        conversation=conv, defaults={"shop_id": conv.shop_id}
    )
    if created:
        services.post_robot_message(
            conversation=conv, text=_render(robot.opening_text, conv), client_msg_id=f"robot-open-{conv.pk}"
        )
    return session


def _robot_takes(item: Received, robot: RobotSettings) -> bool:
    """Whether the robot receives this new chat (the module's entry rules)."""
    if not switch.full_auto_on(item.buyer.shop_id):
        return False
    if services.takes_priority_entry(item.buyer):
        return False
    return diversion.robot_takes(shop_id=item.buyer.shop_id, buyer_id=item.buyer.pk)


def _receive_one(item: Received, robot: RobotSettings) -> tuple[str | None, str]:
    """Read one message of a chat the robot has (or opens): the hand-off to make (a reason) and its intent,
    or (None, "")."""
    message = item.message
    with transaction.atomic():
        conv = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("buyer", "shop", "source_product")
            .get(pk=message.conversation_id)
        )
        session = RobotSession.objects.select_for_update().filter(conversation=conv).first()
        if session is not None and session.handed_over_at is not None:
            if conv.state == ConversationState.ROBOT:  # a hand-off that did not complete: made again
                return session.handoff_reason or ArrivalReason.ROBOT_UNSURE, session.intent
            return None, ""  # handed over by an earlier message: the robot is silent
        if conv.state != ConversationState.ROBOT or RobotTurn.objects.filter(message=message).exists():
            return None, ""  # not the robot's chat any more, or a resend read already
        if session is None:
            session = _welcome(conv, robot)
        reading = _read(item, robot)
        outcome, step = _decide(conv, session, robot, item, reading)
        RobotTurn.objects.create(
            shop_id=conv.shop_id,
            session=session,
            message=message,
            intent=reading.intent or (reading.entry.intent if reading.entry is not None else ""),
            confidence=reading.confidence if reading.intent else reading.score,
            entry_id=reading.entry.pk if reading.entry is not None else None,
            score=reading.score,
            outcome=outcome,
        )
        if step.hand_over is not None:
            turns = list(session.turns.order_by("pk").values_list("intent", "confidence"))
            session.intent = conversation_intent(turns)
            session.handoff_reason = step.hand_over
            session.handed_over_at = timezone.now()
            services.post_robot_message(
                conversation=conv,
                text=_render(robot.handoff_text, conv),
                client_msg_id=f"robot-handoff-{message.pk}",
            )
            services.post_system_message(
                conversation=conv,
                text=_reason_text(step.hand_over, session.intent),
                client_msg_id=f"robot-reason-{message.pk}",
            )
        session.save()
        return step.hand_over, session.intent


def _route(
    received: Sequence[Received],
    results: list[Exception | None],
    human: list[int],
    handoffs: list[tuple[int, services.Arrival]],
) -> None:
    """The chats the robot does not take to ``to_human``, the robot's hand-offs to ``services.hand_over``,
    each batch at once; their errors into ``results``."""
    if human:
        for i, error in zip(human, to_human([received[i] for i in human]), strict=True):
            results[i] = error
    if handoffs:
        errors = services.hand_over([arrival for _i, arrival in handoffs])
        for (i, _arrival), error in zip(handoffs, errors, strict=True):
            results[i] = results[i] or error


def receive(received: Sequence[Received]) -> list[Exception | None]:
    """The receiver (``ROUTING_RECEPTION = "robot.reception.receive"``): per message None, or the error that
    kept it from being received. Chats the robot does not take go to ``to_human`` together; the robot's
    hand-offs are routed together after the messages are read (``services.hand_over``)."""
    results: list[Exception | None] = [None] * len(received)
    robots: dict[int, RobotSettings] = {}
    human: list[int] = []
    refused: set[int] = set()  # conversations the robot does not take
    handing: set[int] = (
        set()
    )  # conversations handed over in this batch: their later messages wait for a human
    handoffs: list[tuple[int, services.Arrival]] = []
    for i, item in enumerate(received):
        conv_id = item.message.conversation_id
        if conv_id in refused or conv_id in handing:
            continue
        try:
            robot = robots.get(item.buyer.shop_id) or robots.setdefault(
                item.buyer.shop_id, _settings(item.buyer.shop_id)
            )
            opened = RobotSession.objects.filter(conversation_id=conv_id).exists()
            # A new chat the robot does not take, or the robot switched off since it took this one.
            if (not opened and not _robot_takes(item, robot)) or (opened and not robot.full_auto):
                refused.add(conv_id)
                human.append(i)
                continue
            reason, intent = _receive_one(item, robot)
        except Exception as exc:
            results[i] = exc
            continue
        if reason is not None:
            arrival = services.Arrival(item.buyer, item.source_product, intent, ArrivalReason(reason))
            handoffs.append((i, arrival))
            handing.add(conv_id)
    _route(received, results, human, handoffs)
    return results
