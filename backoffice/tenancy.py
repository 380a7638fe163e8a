"""Who is working in which shop, and what they may do there.

- ``CurrentShopMiddleware`` picks the signed-in person's current staff account (the shop chosen in the
  session, else their first active account) and exposes ``request.staff`` and ``request.shop``.
- ``StaffAccountBackend`` answers ``user.has_perm`` from that account with the one rights rule
  (``backoffice.access.permissions_of``: the role's group, the account's own rights, every right for the
  owner). Admin permission screens therefore keep working, and a person holding accounts in two shops has
  each shop's rights only while working in that shop.
- ``get_for_shop_or_404`` fetches one object of the current shop; a foreign id is a 404 like a missing one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.auth.backends import ModelBackend
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse

from backoffice.access import permissions_of
from backoffice.models import Shop, ShopQuerySet, StaffAccount

SESSION_KEY = "current_shop_id"
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
