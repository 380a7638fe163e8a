"""Platform models on the console (logins, groups, Celery beat's schedules, django-axes' sign-in records) are
for platform superusers: to a shop owner every one of their pages is a 404, an existing id exactly like a
missing one (the stock admin answered 403 and 302: an existence oracle across shops)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog  # type: ignore[import-untyped]
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from backoffice.admin_site import PlatformOnlyAdmin
from backoffice.models import StaffAccount
from tests.conftest import login_client


def interval() -> IntervalSchedule:
    return IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES)


def attempt(model: type[Model]) -> Callable[[StaffAccount], Any]:
    fields = {"user_agent": "ua", "ip_address": "192.0.2.1", "username": "x", "http_accept": "*/*"}
    extra: dict[str, Any] = {"path_info": "/admin/login/", "attempt_time": timezone.now()}
    if model is AccessAttempt:
        extra |= {"get_data": "", "post_data": "", "failures_since_start": 1}
    return lambda staff: model._default_manager.create(**fields, **extra)


# model -> an existing object (the owner's own login included: even that is not theirs to edit here)
PLATFORM_OBJECTS: dict[type[Model], Callable[[StaffAccount], Any]] = {
    User: lambda staff: staff.user,
    Group: lambda staff: Group.objects.create(name="platform-only"),
    PeriodicTask: lambda staff: PeriodicTask.objects.create(
        name="t", task="routing.auto_end_idle", interval=interval()
    ),
    IntervalSchedule: lambda staff: interval(),
    CrontabSchedule: lambda staff: CrontabSchedule.objects.create(minute="5"),
    SolarSchedule: lambda staff: SolarSchedule.objects.create(event="sunrise", latitude=30, longitude=120),
    ClockedSchedule: lambda staff: ClockedSchedule.objects.create(clocked_time=timezone.now()),
    AccessAttempt: attempt(AccessAttempt),
    AccessLog: attempt(AccessLog),
    AccessFailureLog: attempt(AccessFailureLog),
}


def url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_registered_admin_is_shop_scoped_or_platform_only() -> None:
    platform = {m for m, a in admin.site._registry.items() if isinstance(a, PlatformOnlyAdmin)}
    scoped = {m for m, a in admin.site._registry.items() if getattr(a, "shop_scoped", False)}
    assert platform | scoped == set(admin.site._registry) and not platform & scoped
    assert platform == set(PLATFORM_OBJECTS)  # a new platform model gets a row in the test below


@pytest.mark.parametrize("model", PLATFORM_OBJECTS, ids=lambda m: m.__name__)
def test_a_shop_owner_gets_a_404_for_an_existing_and_a_missing_id_alike(
    model: type[Model], owner: StaffAccount, owner_client: Client
) -> None:
    obj = PLATFORM_OBJECTS[model](owner)
    missing = obj.pk + 10_000
    for view in ("change", "history", "delete"):
        assert owner_client.get(url(model, view, obj.pk)).status_code == 404, view
        assert owner_client.get(url(model, view, missing)).status_code == 404, view
    assert owner_client.get(url(model, "changelist")).status_code == 404
    assert owner_client.get(url(model, "add")).status_code == 404
    assert owner_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 404
    assert model._default_manager.filter(pk=obj.pk).exists()
    app_index = reverse("admin:app_list", args=[model._meta.app_label])
    assert owner_client.get(app_index).status_code == 404
    assert url(model, "changelist") not in owner_client.get(reverse("admin:index")).text


def test_a_shop_owner_cannot_reach_the_password_form_of_any_login(
    owner: StaffAccount, outsider: StaffAccount, owner_client: Client
) -> None:
    for user_id in (owner.user_id, outsider.user_id, outsider.user_id + 10_000):
        assert owner_client.get(reverse("admin:auth_user_password_change", args=[user_id])).status_code == 404


@pytest.mark.parametrize("model", PLATFORM_OBJECTS, ids=lambda m: m.__name__)
def test_a_platform_superuser_still_manages_platform_models(
    model: type[Model], owner: StaffAccount, superuser: Any
) -> None:
    obj = PLATFORM_OBJECTS[model](owner)
    client = login_client(superuser)
    assert client.get(url(model, "changelist")).status_code == 200
    assert client.get(url(model, "change", obj.pk)).status_code == 200


def test_a_nul_in_a_platform_admin_search_or_filter_is_not_a_500(superuser: Any) -> None:
    """Before: the stock Celery beat list with ?task=%00 was a 500 on PostgreSQL (platform admins were not
    guarded like the shops')."""
    client = login_client(superuser)
    for address in ("/admin/django_celery_beat/periodictask/?task=%00", "/admin/auth/user/?q=a%00b"):
        assert client.get(address).status_code in (200, 302)
