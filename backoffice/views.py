from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from backoffice.access import request_has_right
from backoffice.health import health
from backoffice.models import Shop, StaffAccount
from backoffice.tenancy import SESSION_KEY, active_accounts


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200, or 503 naming the parts that are down. Each part's details (versions, errors) only for platform
    superusers, or for anyone with HEALTHZ_DETAILS on: they help whoever probes the server."""
    ok, body = health(details=settings.HEALTHZ_DETAILS or request.user.is_superuser)
    return JsonResponse(body, status=200 if ok else 503)


@login_required
@require_POST
def switch_shop(request: HttpRequest) -> HttpResponse:
    """Make another of the person's shops current, without signing in again. Foreign shops are 404."""
    try:
        shop_id = int(request.POST.get("shop", ""))
    except ValueError as exc:
        raise Http404 from exc
    if not active_accounts(request.user).filter(shop_id=shop_id).exists():
        raise Http404
    request.session[SESSION_KEY] = shop_id
    target = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    return HttpResponseRedirect(target)


@require_GET
@never_cache
def home(request: HttpRequest) -> HttpResponse:
    """The console's front page: what the signed-in account can open (the workbench with the IM permission,
    the admin's sections its rights show, the API documentation for those who manage API keys), or the
    sign-in link. The demo buyer picker's links where the demo turned it on (DEMO_BUYER_PICKER): the current
    shop's, and the demo shops', which need no sign-in (``routing.views.demo_picker``)."""
    staff: StaffAccount | None = getattr(request, "staff", None)
    context: dict[str, object] = {"staff": staff, "sections": [], "demo_shops": []}
    if request.user.is_authenticated and admin.site.has_permission(request):
        context["sections"] = admin.site.get_app_list(request)
    if settings.DEMO_BUYER_PICKER:
        shops = list(Shop.objects.filter(is_demo=True).order_by("pk"))
        if staff is not None and staff.shop not in shops:
            shops.insert(0, staff.shop)
        context["demo_shops"] = shops
    context["api_docs"] = request_has_right(request, "backoffice.view_apikey")
    return render(request, "backoffice/home.html", context)
