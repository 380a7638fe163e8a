from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RobotConfig(AppConfig):
    name = "robot"
    verbose_name = _("Robot")
    default_auto_field = "django.db.models.BigAutoField"
