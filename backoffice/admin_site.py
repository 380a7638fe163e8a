"""The console's admin site, in its own module so that the lazy default site never imports backoffice.admin
half-way (which would register the models on a throw-away instance)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _


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
