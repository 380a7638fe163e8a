"""Assist mode (智能辅助): while an agent chats, the best answers for the buyer's last message, from the
knowledge base (rendered for this chat, data-aware answers included) and the recommended human replies of
its intent (``robot.recommend``), with why each is recommended.

Who: the accounts that may read the conversation (``routing.access.readable_conversation``: its agent, an
agent who held it, a supervisor); another shop's conversation is a 404. Nothing is written: the agent puts
a suggestion in the reply box, edits it if needed and sends it as their own reply."""

from __future__ import annotations

from dataclasses import dataclass, field

from backoffice.models import StaffAccount
from robot import matching, recommend
from robot.models import RobotSettings
from robot.reception import entry_answer
from routing.access import readable_conversation
from routing.models import Conversation, Message, SenderKind

KNOWLEDGE = 3  # knowledge-base answers shown
RECOMMENDED = 3
FLOOR = 0.2  # knowledge-base matches under this score are not worth the agent's look


@dataclass(frozen=True)
class KnowledgeSuggestion:
    entry_id: int
    question: str
    answer: str
    score: float
    confident: bool  # at or above the shop's threshold: the robot itself would have sent it


@dataclass(frozen=True)
class ReplySuggestion:
    id: int
    text: str
    times_used: int
    average_rating: float


@dataclass(frozen=True)
class Suggestions:
    message_id: int | None
    text: str
    intent: str
    knowledge: list[KnowledgeSuggestion] = field(default_factory=list)
    recommended: list[ReplySuggestion] = field(default_factory=list)


def suggestions(*, staff: StaffAccount, conversation_id: int) -> Suggestions:
    """The suggestions for the buyer's last text message of a conversation the account may read."""
    qs = Conversation.objects.select_related("shop", "buyer", "source_product")
    conv = readable_conversation(staff, conversation_id, qs)
    last = (
        Message.objects.filter(conversation=conv, sender=SenderKind.BUYER, card__isnull=True)
        .order_by("-seq")
        .first()
    )
    if last is None:
        return Suggestions(None, "", "")
    robot = RobotSettings.objects.filter(shop_id=conv.shop_id).first() or RobotSettings(shop_id=conv.shop_id)
    found = matching.match(shop_id=conv.shop_id, text=last.text, product_id=conv.source_product_id, limit=5)
    knowledge = [
        KnowledgeSuggestion(
            entry_id=c.entry.pk,
            question=c.entry.question,
            answer=entry_answer(c.entry, conv).text,
            score=round(c.score, 3),
            confident=c.score >= robot.threshold,
        )
        for c in found.candidates[:KNOWLEDGE]
        if c.score >= FLOOR
    ]
    best = found.confident(robot.threshold)
    intent = found.intent or (best.entry.intent if best is not None else "")
    recommended = [
        ReplySuggestion(r.pk, r.text, r.times_used, r.average_rating)
        for r in (
            recommend.for_intent(shop_id=conv.shop_id, intent=intent, limit=RECOMMENDED) if intent else []
        )
    ]
    return Suggestions(last.pk, last.text, intent, knowledge, recommended)
