"""Who is working in which shop, and what they may do there.

- ``CurrentShopMiddleware`` picks the signed-in person's current staff account (the shop chosen in the
  session, else their first active account) and exposes ``request.staff`` and ``request.shop``.
- ``StaffAccountBackend`` answers ``user.has_perm`` from that account with the one rights rule
  (``backoffice.access.permissions_of``: the role's group, the account's own rights, every right for the
  owner). Admin permission screens therefore keep working, and a person holding accounts in two shops has
  each shop's rights only while working in that shop.
- While a signed-in staff request runs, the current time zone is the shop's (``Shop.zone``): pages show
  times, and forms read naive times, in shop time.
- ``get_for_shop_or_404`` fetches one object of the current shop; a foreign id is a 404 like a missing one.
- ``PageShopMiddleware``: a page belongs to the shop it was rendered for. Its scripts name that shop on
  every request (header ``X-Shop: <shop id>``), and a request naming a shop that is no longer the
  session's current one (the person switched shop in another tab) is answered 409 ``shop_changed`` before
  any view runs, instead of with another shop's data. A request naming no shop follows the session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.auth.backends import ModelBackend
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.access import permissions_of
from backoffice.models import Shop, ShopQuerySet, StaffAccount
from backoffice.validation import parse_id

SESSION_KEY = "current_shop_id"
PAGE_SHOP_HEADER = "X-Shop"  # the shop a page was rendered for, named by its scripts on every request
SHOP_CHANGED = "shop_changed"
M = TypeVar("M", bound=models.Model)


def active_accounts(user: Any) -> ShopQuerySet[StaffAccount]:
    if not getattr(user, "is_authenticated", False):
        return StaffAccount.objects.none()
    return StaffAccount.objects.filter(user=user, is_active=True).select_related("shop").order_by("shop_id")


def resolve_staff(user: Any, shop_id: int | None) -> StaffAccount | None:
    """The person's active account in ``shop_id``, or their first active account."""
    accounts = active_accounts(user)
    if shop_id is not None:
        chosen = accounts.filter(shop_id=shop_id).first()
        if chosen is not None:
            return chosen
    return accounts.first()


def bind_staff(user: Any, staff: StaffAccount | None) -> None:
    """Attach the current account to the user object so that the backend can answer has_perm."""
    user.current_staff = staff
    for cache in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        if hasattr(user, cache):
            delattr(user, cache)


class CurrentShopMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        staff = None
        if request.user.is_authenticated:
            staff = resolve_staff(request.user, request.session.get(SESSION_KEY))
            bind_staff(request.user, staff)
        request.staff = staff  # type: ignore[attr-defined]
        request.shop = staff.shop if staff else None  # type: ignore[attr-defined]
        if staff is None:
            return self.get_response(request)
        # The shop's time zone for the whole request: pages render times, and forms read naive times, in
        # shop time (``Shop.zone``).
        with timezone.override(staff.shop.zone):
            return self.get_response(request)


def shop_changed_body(user: Any, named: int | None, current: Shop | None) -> dict[str, Any]:
    """What a page of shop ``named`` is told when the session's current shop is ``current`` (None: no
    active account any more): the code, a sentence for the person, and the current shop."""
    page = active_accounts(user).filter(shop_id=named).first() if named is not None else None
    if current is None:
        detail = _("You no longer have an active account in the shop of this page.")
    elif page is None:
        detail = _("Your session now works in the shop %(current)s; this page is for another shop.") % {
            "current": current.name
        }
    else:
        detail = _(
            "You switched to the shop %(current)s in another tab; this page is still for %(page)s."
        ) % {"current": current.name, "page": page.shop.name}
    shop = {"id": current.pk, "name": current.name} if current is not None else None
    return {"code": SHOP_CHANGED, "detail": detail, "shop": shop}


class PageShopMiddleware:
    """Refuses a signed-in request that names (``X-Shop``) a shop other than the session's current one:
    409 ``{"code": "shop_changed", "detail": ..., "shop": {"id", "name"} | null}``, for every view and API
    operation at once. A header that is not an id names no shop of the person's: the same answer. Requests
    without the header (a page load, a form, curl with a session cookie) follow the session as before.
    After ``CurrentShopMiddleware``, which resolved the session's current account."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        named = request.headers.get(PAGE_SHOP_HEADER)
        if named is None or not request.user.is_authenticated:
            return self.get_response(request)
        shop_id = parse_id(named.strip())
        current: Shop | None = getattr(request, "shop", None)
        if current is None or shop_id != current.pk:
            return JsonResponse(shop_changed_body(request.user, shop_id, current), status=409)
        return self.get_response(request)


class StaffAccountBackend(ModelBackend):
    """Permissions from the current staff account instead of the user's own groups."""

    def user_can_authenticate(self, user: Any) -> bool:
        if not super().user_can_authenticate(user):
            return False
        # A person whose every staff account is disabled cannot sign in (platform superusers can).
        return bool(user.is_superuser or active_accounts(user).exists())

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if user_obj.is_superuser:
            return super().get_all_permissions(user_obj, obj)
        if not hasattr(user_obj, "_perm_cache"):
            staff = getattr(user_obj, "current_staff", None)
            if staff is None:
                staff = resolve_staff(user_obj, None)
                user_obj.current_staff = staff
            user_obj._perm_cache = permissions_of(staff) if staff else set()
        return set(user_obj._perm_cache)

    def get_user_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        return self.get_all_permissions(user_obj, obj)

    def get_group_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        return set()


def shop_context(request: HttpRequest) -> dict[str, Any]:
    """Template context: the current shop and the menu of shops the person can switch to."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "current_shop": getattr(request, "shop", None),
        "current_staff": getattr(request, "staff", None),
        "switchable_accounts": list(active_accounts(user)),
    }


def get_for_shop_or_404(queryset: models.QuerySet[M], shop: Shop | None, **lookup: Any) -> M:
    """One object of ``shop``; missing and foreign objects are both a 404."""
    scoped = queryset.for_shop(shop) if hasattr(queryset, "for_shop") else queryset.none()
    obj = scoped.filter(**lookup).first()
    if obj is None:
        raise Http404("No such object in this shop.")
    return obj
