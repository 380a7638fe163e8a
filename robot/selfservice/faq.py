"""The FAQ (常见问题): an opening text and at most six questions with answers, shown when a buyer opens the
chat page, except while the robot's full-auto reception is on (the robot's own opening takes over; asked
through ``robot.switch.full_auto_on`` only). Tapping a question stores it as the buyer's message and its
answer as a system message in the buyer's conversation, so the agent who takes the chat sees what the buyer
already read. The configuration needs the right ``configure_faq``."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from backoffice.access import Right, require_right
from backoffice.errors import Conflict, Invalid, NotFound
from backoffice.models import Buyer, Shop, StaffAccount
from backoffice.validation import clean_text
from robot.models import FaqItem, FaqSettings
from robot.switch import full_auto_on
from routing import services as routing
from routing.models import Conversation, ConversationState, Message

MAX_QUESTIONS = 6
MAX_QUESTION = 100
MAX_ANSWER = 1000
MAX_OPENING = 300


def opening_of(shop: Shop) -> str:
    found = FaqSettings.objects.for_shop(shop).first()
    return found.opening if found else ""


def questions_of(shop: Shop) -> list[FaqItem]:
    return list(FaqItem.objects.for_shop(shop))


def faq_for_buyer(buyer: Buyer) -> dict[str, Any] | None:
    """What the buyer page shows: the opening and the questions (without answers: an answer is shown once
    asked, in the conversation), or None while full-auto reception is on, while an agent serves the buyer
    (a tap is refused then, ``ask``) or when nothing is configured."""
    if full_auto_on(buyer.shop_id) or _served(buyer):
        return None
    items = questions_of(buyer.shop)
    opening = opening_of(buyer.shop)
    if not items and not opening:
        return None
    return {"opening": opening, "questions": [{"id": item.pk, "question": item.question} for item in items]}


def _served(buyer: Buyer) -> bool:
    """An agent serves the buyer now (their open conversation is active)."""
    return Conversation.objects.filter(buyer=buyer, state=ConversationState.ACTIVE).exists()


def _checked(question: str, answer: str) -> tuple[str, str]:
    question = clean_text(question.strip(), MAX_QUESTION, field="question")
    answer = clean_text(answer.strip(), MAX_ANSWER, field="answer")
    errors = [
        {"field": field, "message": _("This field is required.")}
        for field, value in (("question", question), ("answer", answer))
        if not value
    ]
    if errors:
        raise Invalid(_("A question needs its text and its answer."), errors=errors)
    return question, answer


def set_opening(*, staff: StaffAccount, opening: str) -> FaqSettings:
    """The FAQ's opening text (may be empty: the questions alone)."""
    require_right(staff, Right.CONFIGURE_FAQ)
    opening = clean_text(opening.strip(), MAX_OPENING, field="opening")
    settings, _created = FaqSettings.objects.update_or_create(shop=staff.shop, defaults={"opening": opening})
    return settings


def add_question(*, staff: StaffAccount, question: str, answer: str) -> FaqItem:
    """A new question at the end. At most six: the seventh is refused (422), counted under the shop's
    settings row lock so that two adds at once cannot make seven."""
    require_right(staff, Right.CONFIGURE_FAQ)
    question, answer = _checked(question, answer)
    with transaction.atomic():
        FaqSettings.objects.get_or_create(shop=staff.shop)
        FaqSettings.objects.select_for_update().get(shop=staff.shop)
        items = FaqItem.objects.for_shop(staff.shop)
        if items.count() >= MAX_QUESTIONS:
            message = _("The FAQ holds at most %(max)d questions; remove one first.") % {"max": MAX_QUESTIONS}
            raise Invalid(message, errors=[{"field": "question", "message": message}])
        last = items.order_by("-position").values_list("position", flat=True).first()
        return FaqItem.objects.create(
            shop=staff.shop, question=question, answer=answer, position=(last or 0) + 1
        )


def _item(staff: StaffAccount, item_id: int) -> FaqItem:
    item = FaqItem.objects.for_shop(staff.shop).filter(pk=item_id).first()
    if item is None:
        raise NotFound(_("No such question."))
    return item


def update_question(*, staff: StaffAccount, item_id: int, question: str, answer: str) -> FaqItem:
    require_right(staff, Right.CONFIGURE_FAQ)
    item = _item(staff, item_id)
    item.question, item.answer = _checked(question, answer)
    FaqItem.objects.filter(pk=item.pk).update(question=item.question, answer=item.answer)
    return item


def delete_question(*, staff: StaffAccount, item_id: int) -> None:
    require_right(staff, Right.CONFIGURE_FAQ)
    _item(staff, item_id).delete()


def ask(*, buyer: Buyer, item_id: int, client_msg_id: str) -> tuple[Message, Message]:
    """The buyer taps a question: their message (the question) and the system's answer, in their open
    conversation (a new one with the robot if none). Idempotent: the same ``client_msg_id`` stores nothing
    new and returns the same two messages. Refused while full-auto reception is on (the FAQ is not shown)
    and while an agent serves the buyer (409): a question there would start the agent's reply timer for an
    answer the buyer already got."""
    item = FaqItem.objects.for_shop(buyer.shop).filter(pk=item_id).first()
    if item is None:
        raise NotFound(_("No such question."))
    if full_auto_on(buyer.shop_id):
        raise Conflict(_("The FAQ is not offered right now."))
    if _served(buyer):
        raise Conflict(_("An agent is serving you: ask them directly."))
    client_msg_id = clean_text(client_msg_id, 64, field="client_msg_id")
    if not client_msg_id:
        raise Invalid(_("A question needs its client_msg_id."), errors=[{"field": "client_msg_id"}])
    question = routing.post_buyer_message(buyer=buyer, text=item.question, client_msg_id=client_msg_id)
    answer = routing.post_system_message(
        conversation=question.conversation,
        text=item.answer,
        card={"kind": "faq", "question_id": item.pk},
        client_msg_id=f"faq-{question.pk}",
    )
    return question, answer
