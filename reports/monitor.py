"""The live monitor's snapshot (实时监控): per group the queue length and since when its longest waiter
waits; per agent the status, load / limit and the oldest unanswered buyer message of their chats (the reply
timer routing keeps, ``Conversation.waiting_since``) with their active chats; and today's consultations and
3-minute rate so far (``reports.kpis``, the live day, cached for ``TODAY_TTL`` seconds). Read with a few
indexed queries over the shop's open chats (small sets) and today's sessions; pushed by
``reports.consumers.MonitorConsumer`` when routing's events say something changed. Waits are sent as
instants: the page counts the seconds itself and marks a wait past 3 minutes red."""

from __future__ import annotations

from typing import Any, cast

from django.core.cache import cache
from django.db.models import Count, Min
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.models import Shop
from reports import kpis, rollups
from routing.models import AgentGroup, AgentState, Conversation, ConversationState

TODAY_TTL = 15  # seconds


def snapshot(shop: Shop) -> dict[str, Any]:
    """The monitor frame of a shop (``type: monitor``), JSON-ready."""
    names = dict(AgentGroup.objects.for_shop(shop).values_list("pk", "name"))
    queued = (
        Conversation.objects.for_shop(shop)
        .filter(state=ConversationState.QUEUED)
        .values("group_id")
        .annotate(n=Count("pk"), since=Min("queued_at"))
        .order_by()
    )
    by_group = {row["group_id"]: row for row in queued}
    groups = [
        {
            "id": group_id,
            "name": names.get(group_id, _("No group")) if group_id else _("No group"),
            "queued": by_group[group_id]["n"] if group_id in by_group else 0,
            "longest_since": _iso(by_group[group_id]["since"]) if group_id in by_group else None,
        }
        for group_id in [*names, *([None] if None in by_group or not names else [])]
    ]
    chats: dict[int, list[dict[str, Any]]] = {}
    for conv in (
        Conversation.objects.for_shop(shop)
        .filter(state=ConversationState.ACTIVE)
        .order_by("pk")
        .values("pk", "agent_id", "buyer__nickname", "waiting_since")
    ):
        chats.setdefault(conv["agent_id"], []).append(
            {"id": conv["pk"], "buyer": conv["buyer__nickname"], "waiting_since": _iso(conv["waiting_since"])}
        )
    agents = []
    for state in AgentState.objects.for_shop(shop).select_related("staff").order_by("staff_id"):
        mine = chats.get(state.staff_id, [])
        waiting = [c["waiting_since"] for c in mine if c["waiting_since"]]
        agents.append(
            {
                "id": state.staff_id,
                "name": state.staff.display_name,
                "status": state.status,
                "status_label": state.get_status_display(),
                "load": state.load,
                "limit": state.staff.max_concurrent,
                "group": names.get(state.group_id or 0, ""),
                "oldest_waiting_since": min(waiting) if waiting else None,
                "chats": mine,
            }
        )
    today = today_figures(shop)
    return {
        "type": "monitor",
        "now": _iso(timezone.now()),
        "groups": groups,
        "agents": agents,
        "today": today,
    }


def today_figures(shop: Shop) -> dict[str, float | None]:
    """Today's consultations and 3-minute rate so far, computed at most once per ``TODAY_TTL`` seconds per
    shop and process (the rest of the snapshot reads only open chats; this reads all of today's sessions,
    and a busy hour sends many events)."""

    def compute() -> dict[str, float | None]:
        day = rollups.today(shop)
        facts = kpis.session_facts(shop, *kpis.day_bounds(shop, day, day))
        values = kpis.evaluate(kpis.total(facts.values()))
        return {"consultations": values["consultations"], "response_rate_3m": values["response_rate_3m"]}

    figures = cache.get_or_set(f"reports:monitor-today:{shop.pk}", compute, TODAY_TTL)
    return cast(dict[str, float | None], figures)


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment else None
