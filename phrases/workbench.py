"""The quick-phrase panel of the agent workbench (``routing.panels``): the phrase list beside the chat, the
suggestions above the reply box, its keys in the help line, and its script (``phrases/phrases.js``)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext as _

from backoffice.access import Right, has_right
from backoffice.models import StaffAccount
from routing.panels import Panel


def strings() -> dict[str, str]:
    return {
        "phrase_team": _("Team"),
        "phrase_personal": _("Mine"),
        "phrase_linked": _("This product"),
        "phrase_image": _("With image"),
        "phrases_recent": _("Recently used"),
        "phrases_all": _("All phrases"),
        "phrases_found": _("Matching phrases"),
        "phrase_unfilled": _("Fill in %(fields)s before sending."),
        "list_separator": _(", "),
        "phrase_new_title": _("New personal phrase"),
        "phrase_edit_title": _("Edit personal phrase"),
        "phrase_no_group": _("No group"),
        "phrase_empty": _("The phrase content cannot be empty."),
        "phrase_edit": _("Edit"),
        "phrase_delete": _("Delete"),
        "phrase_delete_confirm": _("Delete the personal phrase “%(content)s”?"),
        "phrase_saved": _("Phrase saved."),
        "phrase_deleted": _("Phrase deleted."),
    }


def panel(request: HttpRequest, staff: StaffAccount) -> Panel:
    return Panel(
        name="phrases",
        template="phrases/_workbench_panel.html",
        composer_template="phrases/_workbench_suggest.html",
        help_template="phrases/_workbench_help.html",
        scripts=("phrases/phrases.js",),
        styles=("phrases/phrases.css",),
        data={"api": "/api/v1/phrases/", "manage_team": has_right(staff, Right.MANAGE_TEAM_PHRASES)},
        strings=strings(),
    )
