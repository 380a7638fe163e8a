"""The top of the project: every app's URLs and the JSON API, assembled here and imported by nobody (the
import contract in pyproject.toml lets only this module and ``backoffice.asgi`` import every app).

The JSON API under /api/v1/ (django-ninja; schema at /api/v1/openapi.json, docs at /api/v1/docs) mounts each
app's routers; a domain error (``backoffice.errors``) becomes its HTTP status here, once, for all of them.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from ninja import NinjaAPI, Swagger

from backoffice import api as shop_api
from backoffice import views
from backoffice.errors import DomainError
from backoffice.operations import api as ops_api
from phrases import api as phrases_api
from robot import api as robot_api
from robot import reception_api as robot_reception_api
from routing import api as routing_api

API_DESCRIPTION = """Two kinds of caller:
- integrations, with a per-shop API key (``Authorization: Bearer sk_...`` or ``X-API-Key: sk_...``), push
  buyers, products and orders in batches of up to 500, idempotent on the platform's ids;
- signed-in staff (session cookie + CSRF token), for their own settings and what their role allows.

Errors: 401 missing/revoked key, 403 missing right, 404 unknown or another shop's id, 409 the state changed
under you, 422 invalid payload (``{"detail": [...field errors...]}``; a batch is all-or-nothing).

**The page's shop (staff).** A person may hold staff accounts in several shops; the session works in one of
them at a time (the current shop, switched in the header menu, for every tab). Every staff operation acts in
the session's current shop. A page's scripts name the shop the page was rendered for in the header
``X-Shop: <shop id>``; when that is no longer the session's current shop (the person switched shop in
another tab; a value that is not one of the person's shop ids likewise), the request is refused before it
does anything, for every staff operation and page: 409 with
``{"code": "shop_changed", "detail": "<a sentence>", "shop": {"id": 2, "name": "..."}}`` (``shop``: the
session's current shop, null when the person has no active account left). A request without the header
(curl with a session cookie, a script of your own) follows the session's current shop, as before; API-key
requests are not affected.
"""

api = NinjaAPI(
    title="Shop customer-service console API",
    version="1",
    description=API_DESCRIPTION,
    urls_namespace="api-v1",
    # Swagger UI from ninja's own static files ("ninja" in INSTALLED_APPS), not a CDN; no online validator
    # (its badge is an image from a third party that then fetches our schema).
    docs=Swagger(settings={"validatorUrl": None}),
)


@api.exception_handler(DomainError)
def domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    body: dict[str, Any] = {"detail": exc.message}
    if exc.errors:
        body["errors"] = exc.errors
    return api.create_response(request, body, status=exc.status)


api.add_router("/", shop_api.integration)
api.add_router("/", shop_api.staff_router)
api.add_router("/", ops_api.integration)
api.add_router("/", ops_api.staff_router)
api.add_router("/", routing_api.me_router)
api.add_router("/routing/", routing_api.router)
api.add_router("/phrases/", phrases_api.router)
api.add_router("/robot/", robot_api.router)
api.add_router("/robot/", robot_reception_api.router)

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    # Browsers ask for /favicon.ico on every page that names no icon (the API docs, a file's raw view).
    path(
        "favicon.ico",
        RedirectView.as_view(url=static("backoffice/favicon.svg"), permanent=True),
        name="favicon",
    ),
    path("switch-shop/", views.switch_shop, name="switch-shop"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("reports/", include("reports.urls")),
    path("ops/", include("backoffice.operations.urls")),
    path("", include("routing.urls")),
    path("", include("robot.urls")),
]
