"""The console's admin site, in its own module so that the lazy default site never imports backoffice.admin
half-way (which would register the models on a throw-away instance).

- Shop models are registered with admins derived from ``backoffice.admin.ShopScopedAdmin`` (marked
  ``shop_scoped``). Every other registered model (logins and groups, Celery beat's schedules, the sign-in
  records of django-axes) is the platform's: only platform superusers see it, and to anyone else each of
  its URLs is a 404, so an existing id reads like a missing one (the stock admin answered 403 and 302).
- Sign-in throttling (django-axes, configured in settings): the sign-in page's answer while a login or an
  address is locked out, and the address sign-ins are counted against.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.urls import URLPattern, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backoffice import validation


class CleanLookups(admin.ModelAdmin[Any]):
    """Every admin's lists and searches (shop and platform models alike) take only text that can be stored."""

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        # A search term or list filter that no stored text can hold (a NUL: PostgreSQL refuses it in a
        # query, a 500) is a wacky lookup: the stock admin answers it by showing the list without them.
        if not all(validation.is_clean_text(v) for k, values in request.GET.lists() for v in (k, *values)):
            raise IncorrectLookupParameters
        return super().get_changelist_instance(request)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> Any:
        # The changelist is guarded above; this also covers the autocomplete views' ``term``.
        if not validation.is_clean_text(search_term):
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)


class PlatformOnlyAdmin(CleanLookups):
    """Mixed in front of the admin of a platform model: superusers only, a 404 for everyone else."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser) and super().has_delete_permission(request, obj)

    def get_urls(self) -> list[URLPattern]:
        urls: list[URLPattern] = super().get_urls()
        for pattern in urls:
            pattern.callback = _superusers_only(pattern.callback)
        return urls


def _superusers_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def gated(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_superuser:
            raise Http404(gettext("The requested admin page does not exist."))
        return view(request, *args, **kwargs)

    return gated


class ConsoleAdminSite(admin.AdminSite):
    site_header = _("Shop customer-service console")
    site_title = _("CS console")
    index_title = _("Shop settings")

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        return bool(user.is_superuser or getattr(request, "staff", None) is not None)

    def logout(self, request: HttpRequest, extra_context: Any = None) -> TemplateResponse:
        """Sign out, then close the person's chat sockets that this session opened: each socket of their
        accounts checks its session again (``services.revoke_sockets``) and the signed-out ones close."""
        from backoffice import services  # the admin site is built before the apps' models are ready
        from backoffice.models import StaffAccount

        user = request.user
        accounts = StaffAccount.objects.filter(user_id=user.pk) if user.is_authenticated else None
        staff_ids = list(accounts.values_list("pk", flat=True)) if accounts is not None else []
        response = super().logout(request, extra_context)
        services.revoke_sockets(staff_ids)
        return response

    def register(
        self,
        model_or_iterable: type[Model] | Iterable[type[Model]],
        admin_class: type[admin.ModelAdmin[Any]] | None = None,
        **options: Any,
    ) -> None:
        """Register as usual; an admin not marked ``shop_scoped`` becomes platform-only."""
        chosen: type[admin.ModelAdmin[Any]] = admin_class or admin.ModelAdmin
        if not getattr(chosen, "shop_scoped", False):
            chosen = type(chosen.__name__, (PlatformOnlyAdmin, chosen), {"__module__": chosen.__module__})
        super().register(model_or_iterable, chosen, **options)


# --- sign-in throttling (django-axes) ---------------------------------------------------------------------


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return gettext(
        "Too many failed sign-ins for this login or from this address. Try again in %(minutes)d minutes."
    ) % {"minutes": minutes}


def lockout_response(request: HttpRequest, *args: Any) -> HttpResponse:
    """django-axes' answer to a sign-in while its login or address is locked out: the sign-in page again, with
    the reason, as a 429. (Axes passes the view's response only when its middleware runs synchronously, so
    the page is built here.)"""
    from django.contrib.admin.forms import AdminAuthenticationForm

    # Passed on as given: the sign-in view checks it when the form is sent again.
    target = (
        request.POST.get(REDIRECT_FIELD_NAME)
        or request.GET.get(REDIRECT_FIELD_NAME)
        or reverse("admin:index")
    )
    context = {
        **admin.site.each_context(request),
        "title": gettext("Log in"),
        "app_path": request.get_full_path(),
        "form": AdminAuthenticationForm(request, initial={"username": request.POST.get("username", "")}),
        "lockout_message": lockout_message(),
        REDIRECT_FIELD_NAME: target,
    }
    return render(request, "admin/login.html", context, status=429)


def client_address(request: HttpRequest) -> str | None:
    """The address sign-ins are counted against: REMOTE_ADDR, or, behind TRUSTED_PROXY_HOPS proxies that each
    append to X-Forwarded-For, the entry the outermost proxy appended (the entries left of it are the
    client's own to write). A value that is no IP address falls back to REMOTE_ADDR."""
    remote: str | None = request.META.get("REMOTE_ADDR")
    hops = settings.TRUSTED_PROXY_HOPS
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(forwarded) < hops:
        return remote
    try:
        return str(ipaddress.ip_address(forwarded[-hops]))
    except ValueError:
        return remote
