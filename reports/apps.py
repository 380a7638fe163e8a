from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("Reports")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backoffice.services import time_zone_changed

        time_zone_changed.connect(_drop_rollups, dispatch_uid="reports.drop_rollups")


def _drop_rollups(sender: Any, shop: Any, **kwargs: Any) -> None:
    """A shop's local days moved: its rollups (per local day of the old zone) are dropped, so its figures are
    read live until the beat task rolls the days up again."""
    from reports import rollups

    rollups.forget(shop)
