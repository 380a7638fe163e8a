"""Buyer tokens: how a buyer proves who they are to the chat page and its WebSocket.

The shop's integration (or, in the demo, the buyer picker) issues a token for one buyer of one shop; it is
signed with the project's SECRET_KEY and expires after ``BUYER_TOKEN_MAX_AGE`` seconds (default one day).
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing

from backoffice.models import Buyer

SALT = "routing.buyer-token"


def buyer_token(buyer: Buyer) -> str:
    return signing.dumps({"shop": buyer.shop_id, "buyer": buyer.pk}, salt=SALT, compress=True)


def buyer_from_token(token: str, *, max_age: int | None = None) -> Buyer | None:
    """The buyer a valid, unexpired token names; None for anything else (tampered, expired, unknown)."""
    found = buyer_session(token, max_age=max_age)
    return found[0] if found else None


def buyer_session(token: str, *, max_age: int | None = None) -> tuple[Buyer, float] | None:
    """The buyer a valid, unexpired token names and when the token expires (a Unix time: the buyer's socket
    closes then); None for anything else (tampered, expired, unknown)."""
    age = max_age if max_age is not None else settings.BUYER_TOKEN_MAX_AGE
    try:
        data = signing.loads(token, salt=SALT, max_age=age)
        # value:timestamp:signature; the signature just checked covers the timestamp.
        issued = signing.b62_decode(token.rsplit(":", 2)[-2])
    except (signing.BadSignature, ValueError, IndexError):
        return None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("buyer"), int)
        or not isinstance(data.get("shop"), int)
    ):
        return None
    buyer = Buyer.objects.filter(pk=data["buyer"], shop_id=data["shop"]).select_related("shop").first()
    return (buyer, issued + age) if buyer is not None else None
