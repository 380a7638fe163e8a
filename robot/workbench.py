"""The robot's assist panel of the agent workbench (``routing.panels``): the best answers for the buyer's
last message (knowledge base, then recommended human replies with why), beside the chat; a click or
Alt+A / Alt+S / Alt+D puts one in the reply box (``robot/assist.js``, API ``GET /api/v1/robot/assist``).
It also names the robot's messages in the transcript (the ``robot`` string)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext as _

from backoffice.models import StaffAccount
from routing.panels import Panel


def strings() -> dict[str, str]:
    return {
        "robot": _("Robot"),
        "assist_none": _("No suggestion for the buyer's last message."),
        "assist_knowledge": _("Knowledge base"),
        "assist_recommended": _("Recommended replies"),
        "assist_why": _("used %(times)s times · average rating %(rating)s"),
        "assist_score": _("match %(score)s"),
        "assist_inserted": _("Suggestion put in the reply box."),
    }


def panel(request: HttpRequest, staff: StaffAccount) -> Panel:
    return Panel(
        name="assist",
        template="robot/_assist_panel.html",
        help_template="robot/_assist_help.html",
        scripts=("robot/assist.js",),
        styles=("robot/assist.css",),
        data={"api": "/api/v1/robot/assist"},
        strings=strings(),
    )
