"""The report pages (server-rendered): KPIs with their definitions, history search and export, one
session's transcript and quality review, the hourly report with the staffing recommendation, and the
consultation insight. Every page asks ``reports.access.viewer`` first; bad input is a page with the error
(400), a foreign or unknown id a 404, a missing right a 403: never a 500.

Chart data reaches the page's script through ``json_script`` (no inline script: the CSP)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from backoffice import validation
from backoffice.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from backoffice.models import StaffAccount
from phrases import spreadsheet
from reports import filters, history, insight, kpis, rollups, staffing
from reports.access import Viewer, session_or_404, viewer
from reports.models import QualityTag
from routing import services as routing_services
from routing.models import AgentGroup, AgentState, AgentStatus, ConversationState, Rating

View = Callable[..., HttpResponseBase]


@dataclass(frozen=True)
class KpiRow:
    kpi: kpis.Kpi
    shown: str


def report_page(view: View) -> View:
    """Signed in, and domain errors as a page: Invalid 400 (the form with its message), Forbidden 403,
    NotFound 404. (Times show in the shop's zone: ``CurrentShopMiddleware`` activates it.)"""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except DomainError as exc:
            status = 400 if isinstance(exc, Invalid) else exc.status
            if isinstance(exc, NotFound):
                status = 404
            return render(request, "reports/error.html", {"message": exc.message}, status=status)

    return login_required(wrapped)


def export(rows: list[list[str]], fmt: str, name: str) -> HttpResponse:
    data = spreadsheet.write(fmt=fmt, rows=rows, header=None, title=name[:31])
    response = HttpResponse(data, content_type=spreadsheet.CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


def export_format(request: HttpRequest) -> str:
    return filters.choice(request.GET, "export", spreadsheet.FORMATS)


def format_value(kind: str, value: float | None) -> str:
    if value is None:
        return "—"
    if kind == "percent":
        return f"{value * 100:.1f}%"
    if kind == "seconds":
        if value >= 3600:
            return _("%(h).1f h") % {"h": value / 3600}
        return _("%(s).0f s") % {"s": value}
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"  # no exponent for big counts


def agent_choices(viewer: Viewer) -> list[StaffAccount]:
    if not viewer.whole_shop:
        return [viewer.staff]
    return list(StaffAccount.objects.filter(shop=viewer.shop, im_enabled=True).order_by("pk"))


def group_choices(viewer: Viewer) -> list[AgentGroup]:
    return list(AgentGroup.objects.for_shop(viewer.shop).order_by("pk")) if viewer.whole_shop else []


# --- KPIs ---------------------------------------------------------------------------------------------------


@require_GET
@report_page
def kpi_page(request: HttpRequest) -> HttpResponse:
    """The KPIs of a period for the shop, an agent or a group, each with its definition; per agent and per
    group tables; the daily trend and the rating distribution as charts; CSV/XLSX export."""
    who = viewer(request)
    period = filters.period(request.GET, who)
    agent = filters.agent(request.GET, who)
    group = filters.group(request.GET, who)
    fmt = export_format(request)
    every = rollups.facts_between(who.shop, period.first, period.last)
    chosen = kpis.select(every, agent=agent.pk if agent else None, group=group.pk if group else None)
    values = kpis.evaluate(kpis.total(chosen.values()))
    rows = [KpiRow(kpi, format_value(kpi.kind, values[kpi.code])) for kpi in kpis.KPIS]
    names = {a.pk: a.display_name for a in StaffAccount.objects.filter(shop=who.shop)}
    per_agent = [
        (names.get(agent_id, str(agent_id)), kpis.evaluate(facts))
        for agent_id, facts in sorted(kpis.by_agent(kpis.select(every, agent=who.own_agent)).items())
    ]
    group_names = {g.pk: g.name for g in AgentGroup.objects.for_shop(who.shop)}
    per_group = (
        [
            (group_names.get(g, _("No group")) if g else _("No group"), kpis.evaluate(facts))
            for g, facts in sorted(kpis.by_group(every).items(), key=lambda item: item[0] or 0)
        ]
        if who.whole_shop
        else []
    )
    columns = [kpis.KPI_BY_CODE[c] for c in TABLE_COLUMNS]
    if fmt:
        table = [[_("KPI"), _("Value"), _("Definition")]]
        table += [[str(r.kpi.label), r.shown, str(r.kpi.definition)] for r in rows]
        table += [[], [_("Agent"), *(str(c.label) for c in columns)]]
        table += [[name, *(format_value(c.kind, v[c.code]) for c in columns)] for name, v in per_agent]
        return export(table, fmt, f"kpis-{period.first}-{period.last}")
    daily = kpis.by_day(chosen)
    trend = {
        "days": [d.isoformat() for d in period.days],
        "consultations": [daily[d].consultations if d in daily else 0 for d in period.days],
        "human_sessions": [daily[d].human_sessions if d in daily else 0 for d in period.days],
        "rate_3m": [
            _percent(kpis.evaluate(daily[d])["response_rate_3m"]) if d in daily else None for d in period.days
        ],
    }
    return render(
        request,
        "reports/kpis.html",
        {
            "tab": "kpis",
            "viewer": who,
            "period": period,
            "agent": agent,
            "group": group,
            "agents": agent_choices(who),
            "groups": group_choices(who),
            "rows": rows,
            "columns": columns,
            "per_agent": [
                (name, [format_value(c.kind, v[c.code]) for c in columns]) for name, v in per_agent
            ],
            "per_group": [
                (name, [format_value(c.kind, v[c.code]) for c in columns]) for name, v in per_group
            ],
            "chart": {
                "trend": trend,
                "ratings": kpis.stars(kpis.total(chosen.values())),
                "labels": chart_labels(),
            },
            "query": request.GET.urlencode(),
        },
    )


TABLE_COLUMNS = (
    "consultations",
    "human_sessions",
    "receptions",
    "response_rate_3m",
    "avg_response",
    "first_response",
    "session_length",
    "satisfied_share",
    "rating_rate",
    "transfers",
    "online_time",
    "busy_time",
)


def _percent(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def chart_labels() -> dict[str, str]:
    return {
        "consultations": _("Consultations"),
        "human_sessions": _("Human sessions"),
        "rate_3m": _("3-minute response rate (%)"),
        "ratings": _("Ratings"),
        "stars": _("%(n)s stars"),
        "receptions": _("Human receptions"),
        "agents_online": _("Agents online"),
        "recommended": _("Recommended agents"),
    }


# --- history ------------------------------------------------------------------------------------------------


@require_GET
@report_page
def history_page(request: HttpRequest) -> HttpResponse:
    """The session search, paged (``history.PAGE_SIZE``), or its export as CSV/XLSX."""
    who = viewer(request)
    form = history.parse(request.GET, who)
    fmt = export_format(request)
    found = history.search(who, form)
    if fmt:
        return export(
            history.export_rows(found[:10_000], who.shop.zone),
            fmt,
            f"sessions-{form.period.first}-{form.period.last}",
        )
    page = Paginator(found, history.PAGE_SIZE).get_page(filters.page_number(request.GET))
    return render(
        request,
        "reports/history.html",
        {
            "tab": "history",
            "viewer": who,
            "form": form,
            "page": page,
            "agents": agent_choices(who),
            "groups": group_choices(who),
            "query": form.query_string(),
            "ratings": history.RATINGS,
        },
    )


@require_GET
@report_page
def session_page(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """One session: transcript with each reply's delay, routing trace, transfers, rating, the order panel
    as it was, and the quality reviews (the form for supervisors)."""
    who = viewer(request)
    conv = session_or_404(who, conversation_id)
    return render(request, "reports/session.html", session_context(who, conv))


def session_context(who: Viewer, conv: Any) -> dict[str, Any]:
    live = conv.state == ConversationState.ACTIVE and who.whole_shop
    return {
        "targets": list(
            AgentState.objects.for_shop(who.shop)
            .filter(status=AgentStatus.ONLINE)
            .exclude(staff_id=conv.agent_id)
            .select_related("staff")
            .order_by("staff_id")
        )
        if live
        else [],
        "live": live,
        "tab": "history",
        "viewer": who,
        "conv": conv,
        "lines": history.transcript(conv),
        "trace": history.trace(conv),
        "transfers": history.transfers(conv),
        "rating": Rating.objects.filter(conversation=conv).first(),
        "orders": history.orders_then(conv),
        "reviews": history.reviews(who, conv),
        "tags": QualityTag.choices,
    }


@require_POST
@report_page
def review(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """A supervisor saves a quality review of a session; bad input shows the session with the error."""
    who = viewer(request)
    conv = session_or_404(who, conversation_id)
    try:
        history.save_review(viewer=who, conversation=conv, data=request.POST)
    except Invalid as exc:
        context = session_context(who, conv) | {"review_error": exc.message}
        return render(request, "reports/session.html", context, status=400)
    return redirect("reports:session", conversation_id=conv.pk)


# --- hourly report and staffing -----------------------------------------------------------------------------


@require_GET
@report_page
def hourly_page(request: HttpRequest) -> HttpResponse:
    """The hourly report of one day beside the staffing recommendation (report right only)."""
    who = viewer(request, whole_shop=True)
    day = filters.parse_date(request.GET, "day", rollups.today(who.shop))
    if day > rollups.today(who.shop):
        raise Invalid(_("Choose a day up to today."))
    weeks = _bounded_int(request, "weeks", 4, 1, 12)
    concurrent = _bounded_int(request, "concurrent", 3, 1, 50)
    target = _bounded_int(request, "target", 90, 1, 99)
    plan = staffing.recommend(who.shop, day, weeks=weeks, concurrent=concurrent, target=target / 100)
    if fmt := export_format(request):
        table = [
            [
                _("Hour"),
                _("Consultations"),
                _("Human receptions"),
                _("Human sessions"),
                _("Agents online"),
                _("Human arrivals per hour (mean)"),
                _("Recommended agents"),
            ]
        ]
        table += [
            [
                f"{h.hour:02d}:00",
                str(h.consultations),
                str(h.receptions),
                str(h.human_sessions),
                str(h.agents_online),
                f"{h.arrivals_per_hour:g}",
                str(h.recommended),
            ]
            for h in plan.hours
        ]
        return export(table, fmt, f"hourly-{day}")
    chart = {
        "hours": [f"{h.hour:02d}" for h in plan.hours],
        "consultations": [h.consultations for h in plan.hours],
        "receptions": [h.receptions for h in plan.hours],
        "agents_online": [h.agents_online for h in plan.hours],
        "recommended": [h.recommended for h in plan.hours],
        "labels": chart_labels(),
    }
    return render(
        request,
        "reports/hourly.html",
        {
            "tab": "hourly",
            "viewer": who,
            "day": day,
            "plan": plan,
            "aht": format_value("seconds", plan.aht),
            "target": target,
            "chart": chart,
            "query": request.GET.urlencode(),
        },
    )


def _bounded_int(request: HttpRequest, name: str, default: int, low: int, high: int) -> int:
    raw = filters.text(request.GET, name, 4)
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise Invalid(
            _("%(name)s must be a number from %(low)d to %(high)d.")
            % {"name": name, "low": low, "high": high}
        )
    return int(raw)


# --- live monitor and supervisor actions -------------------------------------------------------------------


@require_GET
@report_page
def live_page(request: HttpRequest) -> HttpResponse:
    """The live monitor: the page's script opens ``/ws/monitor/`` and draws each snapshot it receives."""
    who = viewer(request, whole_shop=True)
    strings = {
        "connecting": _("Connecting…"),
        "connected": _("Live"),
        "lost": _("Connection lost, reconnecting…"),
        "no_group": _("No group"),
        "nobody": _("Nobody is waiting."),
        "none": _("None"),
        "seconds": _("%(s)s s"),
        "minutes": _("%(m)s min %(s)s s"),
    }
    return render(request, "reports/live.html", {"tab": "live", "viewer": who, "strings": strings})


@require_POST
@report_page
def transfer(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """A supervisor reassigns a live chat to another agent (``routing.services.transfer``, which requires
    the routing right for someone else's chat, and for a transfer over the target's limit)."""
    who = viewer(request, whole_shop=True)
    conv = session_or_404(who, conversation_id)
    to_id = validation.parse_id(request.POST.get("to_agent"))
    target = StaffAccount.objects.filter(shop=who.shop, pk=to_id).first() if to_id else None
    if target is None:
        raise NotFound(_("No such agent in this shop."))
    note = filters.text(request.POST, "note", 200)
    try:
        routing_services.transfer(
            conversation=conv,
            to_agent=target,
            by=who.staff,
            note=note,
            force=request.POST.get("force") == "1",
        )
    except (Invalid, Conflict, Forbidden) as exc:
        context = session_context(who, conv) | {"transfer_error": exc.message}
        return render(request, "reports/session.html", context, status=exc.status)
    return redirect("reports:session", conversation_id=conv.pk)


# --- insight ------------------------------------------------------------------------------------------------


@require_GET
@report_page
def insight_page(request: HttpRequest) -> HttpResponse:
    """Top buyer intents (the robot's, else the order state) and the robot's unanswered questions."""
    who = viewer(request, whole_shop=True)
    period = filters.period(request.GET, who)
    return render(
        request,
        "reports/insight.html",
        {
            "tab": "insight",
            "viewer": who,
            "period": period,
            "intents": insight.top_intents(who.shop, period),
            "unanswered": insight.unanswered_questions(who.shop, period),
        },
    )
