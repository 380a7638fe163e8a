"""Who sees which report: an account with the report right (``view_reports``) sees the whole shop; an agent
(an account with the IM permission) without it sees only their own sessions and figures; anyone else none.
Every report page asks ``viewer`` first and fetches sessions through ``visible_sessions``/``session_or_404``,
so a colleague's session is a 404 exactly like another shop's."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _

from backoffice.access import Right, has_right
from backoffice.errors import Forbidden
from backoffice.models import Shop, StaffAccount
from routing.models import Conversation


@dataclass(frozen=True)
class Viewer:
    staff: StaffAccount
    whole_shop: bool  # False: only the agent's own sessions and figures

    @property
    def shop(self) -> Shop:
        return self.staff.shop

    @property
    def own_agent(self) -> int | None:
        """The agent every figure is limited to (None: the whole shop)."""
        return None if self.whole_shop else self.staff.pk


def viewer(request: HttpRequest, *, whole_shop: bool = False) -> Viewer:
    """The report viewer of the request, or Forbidden; ``whole_shop`` pages (hourly report, staffing, live
    monitor, insight) need the report right."""
    staff: StaffAccount | None = getattr(request, "staff", None)
    if staff is None:
        raise Forbidden(_("You have no active staff account in any shop."))
    if has_right(staff, Right.VIEW_REPORTS):
        return Viewer(staff, True)
    if whole_shop or not staff.im_enabled:
        raise Forbidden(_("Missing right: %(perm)s") % {"perm": Right.VIEW_REPORTS})
    return Viewer(staff, False)


def visible_sessions(viewer: Viewer) -> QuerySet[Conversation]:
    sessions = Conversation.objects.for_shop(viewer.shop)
    if not viewer.whole_shop:
        sessions = sessions.filter(agent=viewer.staff)
    return sessions


def session_or_404(viewer: Viewer, conversation_id: int) -> Conversation:
    conv = (
        visible_sessions(viewer)
        .select_related("buyer", "agent", "group", "shop")
        .filter(pk=conversation_id)
        .first()
    )
    if conv is None:
        raise Http404(_("No such session."))
    return conv
