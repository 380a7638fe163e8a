"""The shop's time zone (``Shop.time_zone``): an IANA name, Asia/Shanghai unless the owner sets another in
the shop's admin; a bad name is refused with nothing written; the staff API names it; staff pages show
times in it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext

from backoffice import services, tenancy
from backoffice.errors import Invalid
from backoffice.models import Shop, StaffAccount, validate_time_zone
from tests.conftest import login_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC"])
def test_iana_names_are_accepted(name: str) -> None:
    validate_time_zone(name)


@pytest.mark.parametrize(
    "name",
    ["", "Mars/Olympus", "asia/shanghai ", "../../etc/passwd", "+08:00", "Asia/Shanghai\x00", "\ud800"],
)
def test_anything_else_is_refused_and_nothing_is_written(shop_a: Shop, name: str) -> None:
    with pytest.raises(ValidationError):
        validate_time_zone(name)
    if name.strip():
        with pytest.raises(Invalid):
            services.set_time_zone(shop=shop_a, name=name)
    assert Shop.objects.get(pk=shop_a.pk).time_zone == "Asia/Shanghai"


def test_a_zone_that_no_longer_loads_falls_back_to_the_project_zone(shop_a: Shop) -> None:
    shop_a.time_zone = "Gone/Away"
    assert shop_a.zone == ZoneInfo("Asia/Shanghai")


def owner_form(shop: Shop, **changes: str) -> dict[str, str]:
    return {
        "name": shop.name,
        "reception_cap": str(shop.reception_cap),
        "time_zone": shop.time_zone,
        **changes,
    }


def test_the_owner_sets_the_zone_in_the_shops_admin(owner: StaffAccount, shop_a: Shop) -> None:
    client = login_client(owner)
    url = f"/admin/backoffice/shop/{shop_a.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and 'name="time_zone"' in page.content.decode()
    response = client.post(url, owner_form(shop_a, time_zone="Europe/Berlin"))
    assert response.status_code == 302
    assert Shop.objects.get(pk=shop_a.pk).time_zone == "Europe/Berlin"


def test_the_admin_refuses_an_unknown_zone(owner: StaffAccount, shop_a: Shop) -> None:
    client = login_client(owner)
    response = client.post(
        f"/admin/backoffice/shop/{shop_a.pk}/change/", owner_form(shop_a, time_zone="CET+1")
    )
    assert response.status_code == 200  # the form again, with its error
    assert (
        escape(gettext("Unknown time zone: use an IANA name such as Asia/Shanghai."))
        in response.content.decode()
    )
    assert Shop.objects.get(pk=shop_a.pk).time_zone == "Asia/Shanghai"


def test_an_agent_cannot_change_the_zone(teammate: StaffAccount, shop_a: Shop) -> None:
    client = login_client(teammate)
    client.post(f"/admin/backoffice/shop/{shop_a.pk}/change/", owner_form(shop_a, time_zone="Europe/Berlin"))
    assert Shop.objects.get(pk=shop_a.pk).time_zone == "Asia/Shanghai"


def test_another_shops_owner_gets_404(outsider: StaffAccount, shop_a: Shop) -> None:
    client = login_client(outsider)
    response = client.post(f"/admin/backoffice/shop/{shop_a.pk}/change/", owner_form(shop_a, time_zone="UTC"))
    assert response.status_code in (302, 404)  # the admin sends a missing object to its index
    assert Shop.objects.get(pk=shop_a.pk).time_zone == "Asia/Shanghai"


def test_the_staff_api_names_the_shops_zone(owner_client: Client, shop_a: Shop) -> None:
    services.set_time_zone(shop=shop_a, name="Europe/Berlin")
    body = owner_client.get("/api/v1/me").json()
    assert body["shop"]["time_zone"] == "Europe/Berlin"
    assert all("time_zone" in shop for shop in body["shops"])


def test_staff_requests_run_in_the_shops_zone(owner: StaffAccount, shop_a: Shop) -> None:
    services.set_time_zone(shop=shop_a, name="Europe/Berlin")
    seen: list[str] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(timezone.get_current_timezone_name())
        return HttpResponse()

    request = RequestFactory().get("/")
    request.user = owner.user
    request.session = SessionStore()
    tenancy.CurrentShopMiddleware(view)(request)
    assert seen == ["Europe/Berlin"]
    assert timezone.get_current_timezone_name() == "Asia/Shanghai"  # only while the request ran
