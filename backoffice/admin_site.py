"""The console's admin site, in its own module so that the lazy default site never imports backoffice.admin
half-way (which would register the models on a throw-away instance)."""

from django.contrib import admin
from django.http import HttpRequest
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
