"""The buyer page's self-service endpoints, beside the chat page: ``/chat/<shop>/self-service/...?token=T``.
The buyer's signed token in the URL is the credential, as for the chat page's image upload
(``routing.tokens``): a bad, expired or other shop's token is a 403. JSON in and out; a body that is not a
JSON object is a 400, bad values a 422, anyone else's order a 404, a state that no longer allows the action a
409: never a 500."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from backoffice.errors import DomainError, Invalid
from backoffice.models import Buyer, Product
from backoffice.validation import json_text_error, parse_id
from robot.selfservice import cards, faq, window
from routing.tokens import buyer_from_token

MAX_BODY = 8 * 1024


def _buyer(request: HttpRequest, shop_id: int) -> Buyer | None:
    token = request.GET.get("token", "")
    buyer = buyer_from_token(token) if token else None
    return buyer if buyer is not None and buyer.shop_id == shop_id else None


def _error(message: str, status: int, errors: list[dict[str, Any]] | None = None) -> JsonResponse:
    body: dict[str, Any] = {"detail": message}
    if errors:
        body["errors"] = errors
    return JsonResponse(body, status=status)


def _expired() -> JsonResponse:
    return _error(_("This chat link has expired. Please open the chat again from the shop."), 403)


class BadBody(DomainError):
    """A body that is too large or not a JSON object: 400."""

    status = 400


def _body(request: HttpRequest) -> dict[str, Any]:
    """The JSON object of the request; BadBody (400) for anything else, Invalid (422) for a string in it
    that cannot be stored (a NUL character, a lone surrogate)."""
    if len(request.body) > MAX_BODY:
        raise BadBody(_("The request is too large."))
    try:
        data = json.loads(request.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise BadBody(_("The body must be a JSON object.")) from None
    if not isinstance(data, dict):
        raise BadBody(_("The body must be a JSON object."))
    if (problem := json_text_error(data)) is not None:
        raise Invalid(problem)
    return data


def _id(data: dict[str, Any], field: str) -> int:
    value = data.get(field)
    if isinstance(value, bool) or not isinstance(value, int | str) or parse_id(str(value)) is None:
        raise Invalid(_("Enter a valid id."), errors=[{"field": field}])
    return int(value)


def _str(data: dict[str, Any], field: str) -> str:
    value = data.get(field, "")
    if not isinstance(value, str):
        raise Invalid(_("Enter a text."), errors=[{"field": field}])
    return value


@never_cache
@require_GET
def overview(request: HttpRequest, shop_id: int) -> JsonResponse:
    """What the buyer page shows above the input: the FAQ (or null), the cards of the buyer's orders and
    the service window's bar. ``&product=<id>``: the product page the chat was opened from."""
    buyer = _buyer(request, shop_id)
    if buyer is None:
        return _expired()
    product_id = parse_id(request.GET.get("product"))
    product = Product.objects.for_shop(buyer.shop).filter(pk=product_id).first() if product_id else None
    return JsonResponse(
        {
            "faq": faq.faq_for_buyer(buyer),
            "cards": cards.cards_for_buyer(buyer),
            "window": window.window_for_buyer(buyer, product),
        }
    )


@csrf_exempt  # the buyer's token in the URL is the credential, not a cookie: no cross-site request forgery
@never_cache
@require_POST
def ask(request: HttpRequest, shop_id: int) -> JsonResponse:
    """The buyer taps an FAQ question: ``{"question": id, "client_msg_id": "..."}``; 201 with the two
    messages' sequence numbers (they reach the page over its socket too)."""
    buyer = _buyer(request, shop_id)
    if buyer is None:
        return _expired()
    try:
        data = _body(request)
        question, answer = faq.ask(
            buyer=buyer, item_id=_id(data, "question"), client_msg_id=_str(data, "client_msg_id")
        )
    except DomainError as exc:
        return _error(exc.message, exc.status, exc.errors)
    return JsonResponse(
        {"conversation": question.conversation_id, "question_seq": question.seq, "answer_seq": answer.seq},
        status=201,
    )


@csrf_exempt  # as above: the token is the credential
@never_cache
@require_POST
def act(request: HttpRequest, shop_id: int) -> JsonResponse:
    """The buyer acts on a card: ``{"order": id, "kind": card, "action": ..., "data": {...}}`` (the new
    address for ``change``); 200 with the buyer's cards afterwards."""
    buyer = _buyer(request, shop_id)
    if buyer is None:
        return _expired()
    try:
        data = _body(request)
        extra = data.get("data", {})
        if not isinstance(extra, dict):
            raise Invalid(_("Enter the details as an object."), errors=[{"field": "data"}])
        result = cards.act(
            buyer=buyer,
            order_id=_id(data, "order"),
            kind=_str(data, "kind"),
            action=_str(data, "action"),
            data=extra,
        )
    except DomainError as exc:
        return _error(exc.message, exc.status, exc.errors)
    return JsonResponse(result)
