"""The robot reception's endpoints for signed-in staff, mounted at /api/v1/robot/ (session cookie + CSRF
token) beside the knowledge base's: assist mode (智能辅助) for the workbench.

Thin endpoints: parse, call one service, return; a conversation of another shop is a 404, one of the shop
the account may not read a 403 (``routing.access.readable_conversation``)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.security import django_auth

from backoffice.access import current_staff, responses
from backoffice.validation import Id
from robot import assist

router = Router(auth=django_auth, tags=["robot"])


class KnowledgeSuggestionOut(Schema):
    entry_id: int
    question: str
    answer: str = Field(description="the answer as the robot would send it in this chat (variables filled)")
    score: float = Field(description="calibrated match confidence 0..1")
    confident: bool = Field(description="at or above the shop's threshold: the robot itself would answer")


class ReplySuggestionOut(Schema):
    id: int
    text: str
    times_used: int = Field(
        description="how often agents of the shop sent this reply (near-duplicates merged)"
    )
    average_rating: float = Field(description="average stars of the chats it was sent in")


class SuggestionsOut(Schema):
    message_id: int | None = Field(description="the buyer's last text message; null: none yet")
    text: str
    intent: str = Field(description="its detected intent; empty when unsure")
    knowledge: list[KnowledgeSuggestionOut]
    recommended: list[ReplySuggestionOut]


@router.get(
    "/assist",
    response=responses(SuggestionsOut, 404, 422),
    summary="Smart assist: answers for the buyer's last message",
    description="For a conversation the account may read (its agent, an agent who held it, a supervisor): "
    "the best knowledge-base answers for the buyer's last text message, rendered for this chat, and the "
    "recommended human replies of its intent with why (times used, average rating). Nothing is written.",
)
def assist_suggestions(request: HttpRequest, conversation: Id) -> assist.Suggestions:
    return assist.suggestions(staff=current_staff(request), conversation_id=conversation)
