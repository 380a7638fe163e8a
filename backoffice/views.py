from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from backoffice.health import health
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


@login_required
def home(request: HttpRequest) -> HttpResponse:
    # The demo buyer picker exists only where the demo turned it on (DEMO_BUYER_PICKER).
    return render(request, "backoffice/home.html", {"debug_buyer_picker": settings.DEMO_BUYER_PICKER})
