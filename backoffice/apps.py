from axes.apps import AppConfig as AxesConfig  # type: ignore[import-untyped]  # ships no types
from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class BackofficeConfig(AppConfig):
    default = True
    name = "backoffice"
    verbose_name = _("Shop")
    default_auto_field = "django.db.models.BigAutoField"


class ConsoleAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "backoffice.admin_site.ConsoleAdminSite"


class SignInRecordsConfig(AxesConfig):  # type: ignore[misc]  # django-axes ships no types
    """django-axes, named in the console's language in the admin (without a name it shows its label)."""

    default = False
    verbose_name = _("Sign-in records")

    def ready(self) -> None:
        super().ready()
        from axes.admin import AccessAttemptAdmin  # type: ignore[import-untyped]

        # The one column of its admin without a name of its own (it showed the method's name, "Status").
        AccessAttemptAdmin.status.short_description = pgettext_lazy("sign-in attempt", "status")
