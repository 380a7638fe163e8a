"""Who may do what, answered once for every app: the rights rule, and the request helpers of the JSON API.

The rule: an account holds a right when it is active and the right is among its role's permissions (the
Django group named after the role) or its own extra rights; the owner (主账号) holds every fine-grained right
whatever its group says. ``has_right`` answers it; services, API endpoints, consumers, pages and the admin
(through ``StaffAccountBackend``, which uses ``permissions_of``) all ask it, so a role edited in the admin
changes every door at once.

Request helpers for the API of every app: ``current_staff`` (the current shop's account, or 403),
``staff_with_right`` (403 without the right), ``im_staff`` (403 without the IM permission), the error schema
``ErrorOut`` and ``responses`` (the OpenAPI responses of an endpoint).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Schema

from backoffice.errors import Forbidden
from backoffice.models import StaffAccount


class Right(StrEnum):
    """The fine-grained rights of the glossary (``Shop.Meta.permissions``), as ``app_label.codename``."""

    CONFIGURE_ROBOT = "backoffice.configure_robot"
    MANAGE_ROUTING = "backoffice.manage_routing"  # the supervisor's right: others' chats, forced transfers
    CONFIGURE_FAQ = "backoffice.configure_faq"
    CONFIGURE_SELF_SERVICE = "backoffice.configure_self_service"
    CONFIGURE_SERVICE_WINDOW = "backoffice.configure_service_window"
    MANAGE_TEAM_PHRASES = "backoffice.manage_team_phrases"
    VIEW_REPORTS = "backoffice.view_reports"
    VIEW_FULL_PHONE = "backoffice.view_full_phone"  # buyers' full phone numbers and addresses (privacy.py)


def permissions_of(staff: StaffAccount) -> set[str]:
    """Every permission of an active account: its role's group and its own rights, plus every right for the
    owner. A disabled account has none."""
    if not staff.is_active:
        return set()
    names = staff.permission_names()
    if staff.is_owner:
        names |= {str(right) for right in Right}
    return names


def has_right(staff: StaffAccount | None, right: str) -> bool:
    """Whether the account may exercise ``right`` (a ``Right`` or any ``app_label.codename``) now."""
    return staff is not None and right in permissions_of(staff)


def request_has_right(request: HttpRequest, right: str) -> bool:
    """``has_right`` for the request's current account, asked through the auth backend
    (``StaffAccountBackend``, which applies ``permissions_of`` and caches it for the request); a platform
    superuser (above every shop) holds every right. For the admin's pages, which ask many times a page."""
    return bool(request.user.has_perm(right))


def require_right(staff: StaffAccount, right: str) -> StaffAccount:
    """``staff``, or Forbidden (403) when it lacks ``right``."""
    if not has_right(staff, right):
        raise Forbidden(_("Missing right: %(perm)s") % {"perm": right})
    return staff


# --- request helpers of the JSON API ------------------------------------------------------------------------


def current_staff(request: HttpRequest) -> StaffAccount:
    """The signed-in person's account in their current shop (``CurrentShopMiddleware``), or 403."""
    staff: StaffAccount | None = getattr(request, "staff", None)
    if staff is None:
        raise Forbidden(_("You have no active staff account in any shop."))
    return staff


def staff_with_right(request: HttpRequest, right: str) -> StaffAccount:
    return require_right(current_staff(request), right)


def im_staff(request: HttpRequest) -> StaffAccount:
    """The current account, which must have the IM permission (it chats with buyers)."""
    staff = current_staff(request)
    if not staff.im_enabled:
        raise Forbidden(_("This account has no IM permission."))
    return staff


class ErrorOut(Schema):
    detail: str | list[Any]
    errors: list[dict[str, Any]] = []


def responses(ok: Any, *errors: int, status: int = 200, forbidden: bool = True) -> dict[int, Any]:
    """The success schema under ``status``, and ErrorOut for 401, 403 and the given error codes.

    Name every code the operation can answer (a test checks the rules below on the OpenAPI schema, the
    schema fuzz test that nothing else is answered): 400 a body that is not JSON, 404 an id that is looked
    up (a path parameter), 409 a changed state, 422 any body, query or path parameter. ``forbidden=False``
    for the API-key operations: a key is the shop's or a 401, never a 403."""
    codes = (401, 403, *errors) if forbidden else (401, *errors)
    return {status: ok, **{code: ErrorOut for code in codes}}


class LimitIn(Schema, extra="forbid"):
    limit: int
