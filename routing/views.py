"""The two live-chat pages: the buyer's chat page and the agent workbench, plus the workbench's buyer panel
and the demo buyer picker. Server-rendered; the pages talk to the server over the WebSocket protocol in
``routing/PROTOCOL.md`` and the routing API, and never reload to show new data.

User-visible strings used by the scripts are gettext strings handed to the page as JSON (``json_script``),
so they are translated with the rest of the templates and escaped like any other data.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import default_storage
from django.db.models import F, Max
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from backoffice import privacy
from backoffice import services as shop_services
from backoffice.errors import DomainError
from backoffice.models import Buyer, ContactViewPlace, Order, Product, Shop, StaffAccount
from backoffice.tenancy import PAGE_SHOP_HEADER, get_for_shop_or_404
from backoffice.validation import parse_id
from routing import attachments, selectors, services
from routing.models import AgentState, AgentStatus, Attachment, Conversation, ConversationState
from routing.panels import Panel, workbench_panels
from routing.services import MAX_TEXT
from routing.tokens import buyer_from_token, buyer_token

# What the chat page's "talk to a human" button sends: an ordinary buyer message, in the words a receiver
# (the robot) reads as a request for a human; buyer-facing Chinese like the robot's texts, not translated.
ASK_HUMAN_TEXT = "转人工"
DEMO_BUYERS = 30


# --- access ------------------------------------------------------------------------------------------------


def _im_staff(request: HttpRequest) -> StaffAccount | None:
    """The current shop's account (the middleware resolves active ones only) when it has the IM permission,
    else None."""
    staff: StaffAccount | None = getattr(request, "staff", None)
    if staff is None or not staff.im_enabled:
        return None
    return staff


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "routing/forbidden.html", status=403)


# --- the agent workbench -----------------------------------------------------------------------------------


def workbench_strings(panels: list[Panel]) -> dict[str, str]:
    """The page's strings, the panels' included (one table for the page's scripts; a panel may not reuse a
    key of the workbench or of another panel)."""
    strings = _workbench_strings()
    for panel in panels:
        if clash := strings.keys() & panel.strings.keys():
            raise ImproperlyConfigured(f"workbench panel {panel.name} redefines the strings {sorted(clash)}")
        strings |= panel.strings
    return strings


def _workbench_strings() -> dict[str, str]:
    return {
        "online": _("Online"),
        "busy": _("Busy"),
        "offline": _("Offline"),
        "connecting": _("Connecting…"),
        "connected": _("Connected"),
        "reconnecting": _("Connection lost, reconnecting in %(seconds)s s…"),
        "closed_auth": _("Your session has expired or you lost the IM permission. Sign in again."),
        "sending": _("Sending"),
        "acked": pgettext("message", "Delivered"),
        "failed": _("Not sent: %(reason)s"),
        "buyer": _("Buyer"),
        "system": _("System"),
        "no_chat": _("Choose a chat on the left."),
        "ended": _("The chat has ended."),
        "ended_by_agent": _("Ended by the agent."),
        "ended_by_buyer": _("Ended by the buyer."),
        "ended_by_auto": _("Auto-ended: 15 minutes without a buyer message."),
        "read_only": _("Ended more than 72 hours ago: read only."),
        "history_repliable": _("Ended; you can still reply until %(time)s."),
        "rating_invited": _("Rating invitation sent."),
        "rated": _("The buyer rated %(stars)s stars."),
        "transferred_away": _("Transferred to %(name)s."),
        "transferred": _("Transferred away"),
        "transferred_read_only": _("Transferred to %(name)s: read only."),
        "not_yours": _(
            "This chat is no longer yours (transferred, ended or taken over by a supervisor): %(detail)s "
            "The list is updated."
        ),
        "transfer": _("Transfer"),
        "hand_out": _("Hand out"),
        "pool_tag": _("[Pool]"),
        "pool_note": _(
            "In the message pool: your reply is sent, the chat stays here until it is handed out."
        ),
        "handed_out": _("%(assigned)s chats handed out, %(left)s left in the pool (no free seat)."),
        "transferred_in": _("Transferred to you. Note: %(note)s"),
        "new_chat": _("New chat: %(name)s"),
        "new_message": _("New message from %(name)s"),
        "queue_empty": _("Nobody is waiting."),
        "pull": _("Take"),
        "priority": _("New buyer"),
        "waiting_for": _("waiting %(time)s"),
        "no_results": _("Nothing found."),
        "start": _("Start chat"),
        "send_card": _("Send"),
        "choose_agent": _("Choose an agent."),
        "saved": _("Saved."),
        "error": _("Something went wrong (%(status)s). Try again."),
        "no_history": _("No chats ended in the last 72 hours."),
        "no_sessions": _("No chats in progress."),
        "product": _("Product"),
        "price": _("¥%(price)s"),
        "notifications_on": _("Notifications on"),
        "notifications_blocked": _("Notifications are blocked in this browser."),
        "too_long": _("A message is limited to %(max)d characters.") % {"max": MAX_TEXT},
        **image_strings(),
        "shop_changed": _(
            "You switched to the shop %(current)s in another tab; this page is still for %(page)s."
        ),
        "shop_gone": _("You no longer have an active account in the shop of this page."),
        "reload_as": _("Reload as %(shop)s"),
        "closed_shop": _("Disconnected: your session now works in another shop."),
    }


@login_required
@never_cache
@require_GET
def workbench(request: HttpRequest) -> HttpResponse:
    """The agent's page for a whole shift: sessions, queue, history, the conversation and the buyer panel."""
    staff = _im_staff(request)
    if staff is None:
        return _forbidden(request)
    panels = workbench_panels(request, staff)
    sessions = list(selectors.active_sessions(staff))
    history = list(selectors.history_sessions(staff))
    state = AgentState.objects.filter(staff=staff).only("status").first()
    queued = Conversation.objects.for_shop(staff.shop).filter(state=ConversationState.QUEUED).count()
    initial = {
        "me": {
            "staff_id": staff.pk,
            "name": staff.display_name,
            "status": state.status if state else AgentStatus.OFFLINE,
            "limit": staff.max_concurrent,
            "cap": staff.shop.reception_cap,
        },
        "sessions": [selectors.session_row(c) for c in sessions],
        "history": [selectors.session_row(c) for c in history],
        "queued": queued,
        "agents": selectors.colleagues(staff),
        "server_now": timezone.now(),
        "time_zone": staff.shop.zone.key,
        # The page's shop: named on every request (X-Shop) and by the socket, refused once it changed.
        "shop": {"id": staff.shop_id, "name": staff.shop.name},
        "shop_header": PAGE_SHOP_HEADER,
        "me_api": "/api/v1/me",
        "ws_path": "/ws/agent/",
        "max_text": MAX_TEXT,
        "max_image_bytes": attachments.max_bytes(),
        "api": "/api/v1/routing/",
        "buyer_panel": reverse("routing:buyer-panel", args=[0]).replace("/0/", "/{id}/"),
        "strings": workbench_strings(panels),
        "panels": [panel.client() for panel in panels],
    }
    return render(
        request,
        "routing/workbench.html",
        {
            "staff": staff,
            "sessions": sessions,
            "history": history,
            "queued": queued,
            "statuses": AgentStatus.choices,
            "status": initial["me"]["status"],  # type: ignore[index]
            "initial": initial,
            "max_text": MAX_TEXT,
            "panels": panels,
        },
    )


@login_required
@never_cache
@require_GET
def buyer_panel(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The buyer of a conversation: their orders in this shop (newest first, items, amounts, shipping, the
    address and its changes) and the product they came from. Another shop's conversation is a 404.
    Receiver phone numbers and addresses are masked without the right to see them in full; with it, the
    showing is recorded (``backoffice.privacy``).
    Shop-scoped, not ``routing.access.readable``: it shows the buyer's orders, which every agent of the shop
    may view (the agent role's commerce rights), and no transcript."""
    staff = _im_staff(request)
    if staff is None:
        return _forbidden(request)
    conv = get_for_shop_or_404(
        Conversation.objects.select_related("buyer", "source_product"), staff.shop, pk=conversation_id
    )
    orders = list(selectors.buyer_orders(conv))
    full = privacy.sees_full_contact(staff)
    if full:
        shop_services.record_contact_views(
            user=request.user, staff=staff, orders=orders, place=ContactViewPlace.WORKBENCH
        )
    shown = [ShownOrder.of(order, full=full) for order in orders]
    return render(request, "routing/_buyer_panel.html", {"conv": conv, "buyer": conv.buyer, "orders": shown})


@dataclass(frozen=True)
class ShownOrder:
    """An order as the panel shows it to an account: its receiver phone, address and address changes in
    full or masked (``backoffice.privacy``), and its goods total (the items' prices x quantities, before
    discount and freight)."""

    order: Order
    phone: str
    address: str
    changes: list[dict[str, Any]]
    goods_total: Decimal

    @classmethod
    def of(cls, order: Order, *, full: bool) -> ShownOrder:
        line = (lambda text: text) if full else privacy.mask_contact_line
        return cls(
            order=order,
            phone=order.receiver_phone if full else privacy.mask_phone(order.receiver_phone),
            address=order.address if full else privacy.mask_address(order.address),
            changes=[
                {"at": c.changed_at, "old": line(c.old_address), "new": line(c.new_address)}
                for c in order.address_changes.all()
            ],
            goods_total=sum((i.unit_price * i.quantity for i in order.items.all()), Decimal("0.00")),
        )


# --- the buyer's chat page ---------------------------------------------------------------------------------


def chat_strings() -> dict[str, str]:
    return {
        "connecting": _("Connecting…"),
        "connected": _("Connected"),
        "reconnecting": _("Connection lost, reconnecting in %(seconds)s s…"),
        "expired": _("This chat link has expired. Please open the chat again from the shop."),
        "queued": _("You are number %(position)s in the queue, about %(minutes)s min to wait."),
        "queued_next": _("You are next in the queue, about %(minutes)s min to wait."),
        "assigned": _("Agent %(name)s is serving you."),
        "transferred": _("You have been transferred to agent %(name)s."),
        "ended": _("The chat has ended. Send a message to start a new one."),
        "sending": _("Sending"),
        "acked": _("Sent"),
        "failed": _("Not sent: %(reason)s"),
        "agent": _("Agent"),
        "robot": _("Robot"),
        "ask_human_text": ASK_HUMAN_TEXT,
        "you": _("Me"),
        "rate_title": _("How was the service of %(name)s?"),
        "rate_title_plain": _("How was our service?"),
        "rate_invite": _("Agent %(name)s invites you to rate the service."),
        "rate": _("Rate"),
        "rate_unavailable": _(
            "You can rate a chat with an agent while it lasts and until a day after it ended."
        ),
        "star": _("%(n)s star(s)"),
        "price": _("¥%(price)s"),
        "product": _("Product"),
        "too_long": _("A message is limited to %(max)d characters.") % {"max": MAX_TEXT},
        **image_strings(),
    }


def image_strings() -> dict[str, str]:
    """The strings of images and emoji, on both pages."""
    return {
        "image": _("Image"),
        "image_text": attachments.image_text(),
        "image_open": _("Open the full image"),
        "emoji": _("Emoji"),
        "uploading": _("Uploading the image…"),
        "upload_failed": _("The image could not be uploaded (%(status)s). Try again."),
        "image_too_large": attachments.too_large_message(),
        "image_remove": _("Remove the image"),
    }


@never_cache
@require_GET
def buyer_chat(request: HttpRequest, shop_id: int) -> HttpResponse:
    """The buyer's chat page, opened with a signed buyer token of this shop. A bad, expired or foreign
    token gets a page saying the link expired (403)."""
    token = request.GET.get("token", "")
    buyer = buyer_from_token(token) if token else None
    if buyer is None or buyer.shop_id != shop_id:
        return render(request, "routing/chat_expired.html", status=403)
    # ?product=<id>: the product page the chat was opened from (routing's product scope, the buyer panel);
    # anything but an id is ignored, like an id of another shop's product.
    product_id = parse_id(request.GET.get("product"))
    product = Product.objects.for_shop(buyer.shop).filter(pk=product_id).first() if product_id else None
    initial = {
        "token": token,
        "product": product.pk if product else None,
        "ws_path": "/ws/buyer/",
        "max_text": MAX_TEXT,
        "max_image_bytes": attachments.max_bytes(),
        "upload_url": f"{reverse('routing:buyer-upload', args=[shop_id])}?{urlencode({'token': token})}",
        "time_zone": buyer.shop.zone.key,
        "strings": chat_strings(),
    }
    context = {"shop": buyer.shop, "buyer": buyer, "initial": initial, "max_text": MAX_TEXT}
    return render(request, "routing/chat.html", context)


def demo_picker_shop(request: HttpRequest, shop_id: int) -> Shop | None:
    """The shop whose buyer picker the request may open, where the picker is on (``demo_picker``)."""
    staff: StaffAccount | None = getattr(request, "staff", None)
    if staff is not None and staff.shop_id == shop_id:
        return staff.shop
    return Shop.objects.filter(pk=shop_id, is_demo=True).first()


@never_cache
@require_GET
def demo_picker(request: HttpRequest, shop_id: int) -> HttpResponse:
    """The demo's buyer picker: some buyers of the shop, each linked to the chat page with a fresh token. Only
    where the demo turned it on (``DEMO_BUYER_PICKER``; ``make run`` does), and then for anyone, signed in or
    not, in a demo shop (``Shop.is_demo``: made by ``seed_demo``, whose buyers are invented), and only for a
    signed-in account of the shop (its current shop) in any other shop: anyone else, like a missing shop,
    gets a 404."""
    if not settings.DEMO_BUYER_PICKER:
        raise Http404
    shop = demo_picker_shop(request, shop_id)
    if shop is None:
        raise Http404
    buyers = list(
        Buyer.objects.for_shop(shop)
        .annotate(last_order=Max("orders__created_at"))
        .order_by(F("last_order").desc(nulls_last=True), "pk")[:DEMO_BUYERS]
    )
    chat_url = reverse("routing:buyer-chat", args=[shop.pk])
    links: list[dict[str, Any]] = [
        {"buyer": buyer, "url": f"{chat_url}?{urlencode({'token': buyer_token(buyer)})}"} for buyer in buyers
    ]
    return render(request, "routing/demo_picker.html", {"shop": shop, "links": links})


# --- images of the chats -----------------------------------------------------------------------------------


def _upload_error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


def read_upload(request: HttpRequest) -> bytes:
    """The bytes of the request's ``file`` (multipart), at most one byte over the limit (the check refuses
    it): a file never read whole however large it claims to be."""
    upload = request.FILES.get("file")
    if upload is None:
        raise attachments.refused(_("Choose an image to send."))
    data: bytes = upload.read(attachments.max_bytes() + 1)
    return data


@csrf_exempt  # the buyer's token in the URL is the credential, not a cookie: no cross-site request forgery
@never_cache
@require_POST
def buyer_upload(request: HttpRequest, shop_id: int) -> HttpResponse:
    """The buyer page uploads an image (multipart ``file``) before sending it as an image message: 201 with
    its card, 422 with the reason for anything but an image within the limits, 403 for a bad, expired or
    foreign token (as the page itself)."""
    token = request.GET.get("token", "")
    buyer = buyer_from_token(token) if token else None
    if buyer is None or buyer.shop_id != shop_id:
        return _upload_error(_("This chat link has expired. Please open the chat again from the shop."), 403)
    if (parse_id(request.META.get("CONTENT_LENGTH")) or 0) > attachments.max_bytes() + 64 * 1024:
        return _upload_error(attachments.too_large_message(), 422)
    try:
        attachment = services.upload_buyer_image(buyer=buyer, data=read_upload(request))
    except DomainError as exc:
        return _upload_error(exc.message, exc.status)
    return JsonResponse(attachments.card(attachment), status=201)


def _attachment_for(request: HttpRequest, attachment_id: int) -> Attachment | HttpResponse:
    """The image if the asker may see it: with ``?token=``, the buyer of its chat (or its uploader); else
    the shop's staff with the IM permission. A bad token or no IM permission is a 403, anyone's image but
    the asker's a 404 (another shop's, another buyer's)."""
    token = request.GET.get("token", "")
    if token:
        buyer = buyer_from_token(token)
        if buyer is None:
            return _forbidden(request)
        found = attachments.visible_to_buyer(buyer, attachment_id)
        if found is None:
            raise Http404
        return found
    staff = _im_staff(request)
    if staff is None:
        return _forbidden(request)
    return get_for_shop_or_404(Attachment.objects.all(), staff.shop, pk=attachment_id)


def _serve(request: HttpRequest, attachment_id: int, *, thumbnail: bool) -> HttpResponseBase:
    found = _attachment_for(request, attachment_id)
    if isinstance(found, HttpResponse):
        return found
    name = found.thumbnail if thumbnail else found.file
    try:
        handle = default_storage.open(name, "rb")
    except FileNotFoundError:
        raise Http404 from None
    content_type = found.content_type
    if thumbnail:
        content_type = "image/png" if name.endswith(".png") else "image/jpeg"
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = "private, max-age=86400"  # never in a shared cache: it is one chat's
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"  # opened on its own: nothing runs
    return response


@require_GET
def attachment(request: HttpRequest, attachment_id: int) -> HttpResponseBase:
    """An image of a chat, for its buyer (``?token=``) and the shop's staff (``routing.attachments``)."""
    return _serve(request, attachment_id, thumbnail=False)


@require_GET
def attachment_thumb(request: HttpRequest, attachment_id: int) -> HttpResponseBase:
    """The image's thumbnail (at most 320 pixels a side), for the same people as the image."""
    return _serve(request, attachment_id, thumbnail=True)
