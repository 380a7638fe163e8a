"""Robot endpoints for signed-in staff, mounted at /api/v1/robot/ (session cookie + CSRF token).

``GET /match?text=&product_id=&limit=``: the knowledge-base entries that best answer a buyer's text, with
calibrated confidences, and the detected intent ("" when the robot would hand over): for the owner checking
the knowledge base. Needs the robot-configuration right: 403 otherwise. 422 for empty or over-long
text; 404 for a product of another shop.
"""

from __future__ import annotations

from typing import Annotated

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema
from ninja.security import django_auth

from backoffice.access import Right, responses, staff_with_right
from backoffice.errors import Invalid
from backoffice.models import Product
from backoffice.tenancy import get_for_shop_or_404
from backoffice.validation import Id, Text
from robot import matching
from robot.models.knowledge import MAX_ANSWER

router = Router(auth=django_auth, tags=["robot"])


class EntryOut(Schema):
    id: int
    question: str
    answer: str
    intent: str
    scenario: str
    product_id: int | None
    card_product_id: int | None


class CandidateOut(Schema):
    entry: EntryOut
    score: float


class MatchOut(Schema):
    intent: str  # "" when below the shop's threshold: the robot would hand over
    intent_confidence: float
    best_intent: str  # the top intent even when unsure
    threshold: float
    answered: bool  # whether the robot would answer with the first candidate
    candidates: list[CandidateOut]


@router.get(
    "/match",
    response=responses(MatchOut, 404, 422),
    summary="Match a buyer's text against the knowledge base",
    description="The best knowledge-base entries (at most limit) for text, best first, with confidences "
    "calibrated so that the shop's threshold means the same for short and long messages, and the detected "
    "intent (empty when the confidence is below the threshold: the robot would not guess). product_id: the "
    "product the buyer came from; entries scoped to it are preferred, entries of other products left out.",
)
def match(
    request: HttpRequest,
    text: Annotated[Text, Query(..., max_length=MAX_ANSWER)],
    product_id: Id | None = None,
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> dict[str, object]:
    staff = staff_with_right(request, Right.CONFIGURE_ROBOT)
    if not text.strip():
        message = _("Text may not be empty.")
        raise Invalid(message, errors=[{"field": "text", "message": message}])
    if product_id is not None:
        get_for_shop_or_404(Product.objects.only("pk"), staff.shop, pk=product_id)
    result = matching.match(shop_id=staff.shop_id, text=text, product_id=product_id, limit=limit)
    answered = result.confident(result.threshold) is not None
    return {
        "intent": result.intent,
        "intent_confidence": result.intent_confidence,
        "best_intent": result.best_intent,
        "threshold": result.threshold,
        "answered": answered,
        "candidates": [
            {
                "entry": {
                    "id": c.entry.pk,
                    "question": c.entry.question,
                    "answer": c.entry.answer,
                    "intent": c.entry.intent,
                    "scenario": c.entry.scenario,
                    "product_id": c.entry.product_id,
                    "card_product_id": c.entry.card_product_id,
                },
                "score": c.score,
            }
            for c in result.candidates
        ],
    }
