"""The after-sale panel of the agent workbench (``routing.panels``): the buyer panel lists each order's
after-sale requests with the seed's guide and one-click actions (``templates/ops/_after_sale.html``,
rendered with the buyer panel); this panel adds only the script that posts the actions to the JSON API and
updates the request in place (``backoffice/aftersale.js``). Accounts without the right get no panel; the
buyer panel then shows the requests without their buttons' script (the forms still post).

``tell_buyer`` fills backoffice's extension point ``AFTER_SALE_BUYER_NOTICE``: the after-sale steps the buyer
must know reach their chat as system messages (backoffice may not import routing)."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from backoffice.access import has_right
from backoffice.models import Buyer, StaffAccount
from backoffice.tenancy import PAGE_SHOP_HEADER
from routing.panels import Panel
from routing.services import post_system_message_to_buyer


def tell_buyer(*, buyer: Buyer, text: str, key: str) -> None:
    """A system message to the buyer's chat (the open conversation, else a new one with the robot); a retry
    with the same ``key`` posts nothing new."""
    post_system_message_to_buyer(buyer=buyer, text=text, client_msg_id=key)


def panel(request: HttpRequest, staff: StaffAccount) -> Panel | None:
    if not has_right(staff, "backoffice.change_aftersalerequest"):
        return None
    return Panel(
        name="aftersale",
        scripts=("backoffice/aftersale.js",),
        styles=("backoffice/ops.css",),
        data={
            "buyer_panel": reverse("routing:buyer-panel", args=[0]).replace("/0/", "/{id}/"),
            "shop_header": PAGE_SHOP_HEADER,
            "shop": staff.shop_id,
        },
        strings={
            "after_sale_done": _("After-sale request updated."),
            "after_sale_opened": _("After-sale request opened."),
        },
    )
