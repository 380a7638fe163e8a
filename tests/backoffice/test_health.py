"""GET /healthz: 200, or 503 naming the parts that are down; each part's details only for platform superusers.
Real Redis, real worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.test import Client

from backoffice.celery import app as celery_app
from tests.conftest import login_client, make_shop


def celery_broker(redis_url: str) -> str:
    return redis_url.replace("unix://", "redis+socket://", 1)


@pytest.fixture
def broker(redis_url: str, settings: Any) -> Iterator[str]:
    settings.REDIS_URL = redis_url
    previous = celery_app.conf.broker_url
    celery_app.conf.update(broker_url=celery_broker(redis_url))
    yield redis_url
    celery_app.conf.update(broker_url=previous)


@pytest.fixture
def worker(broker: str) -> Iterator[None]:
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield


def superuser_client() -> Client:
    from django.contrib.auth import get_user_model

    return login_client(get_user_model().objects.create_superuser("platform", "p@example.com", "x" * 20))


@pytest.mark.django_db(transaction=True)
def test_healthz_ok_when_database_redis_and_a_worker_answer(client: Client, worker: None) -> None:
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body == {"status": "ok", "down": []}  # anonymous: no versions, no worker count
    details = superuser_client().get("/healthz").json()
    assert set(details["checks"]) == {"database", "redis", "celery"}
    assert "worker" in details["checks"]["celery"]["detail"]


@pytest.mark.django_db
def test_healthz_503_names_celery_when_no_worker_answers(client: Client, broker: str) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["down"] == ["celery"]


@pytest.mark.django_db
def test_healthz_503_names_redis_when_it_is_unreachable(client: Client, broker: str, settings: Any) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "redis" in response.json()["down"]
    details = superuser_client().get("/healthz").json()["checks"]
    assert details["database"]["ok"] is True
    assert "Error" in details["redis"]["detail"]  # the exception, for the platform's own staff


@pytest.mark.django_db
def test_anonymous_callers_learn_only_which_parts_are_down(
    client: Client, broker: str, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.json() == {"status": "down", "down": ["redis", "celery"]}
    assert (
        "Error" not in response.text and "postgresql" not in response.text and "sqlite" not in response.text
    )
    assert any("redis" in r.getMessage() and "Error" in r.getMessage() for r in caplog.records)  # logged
    owner = login_client(make_shop("小鹿家居旗舰店", "林晓鹿", "owner_a").staff.get().user)
    assert "checks" not in owner.get("/healthz").json()  # a shop owner is not the platform


@pytest.mark.django_db
def test_healthz_details_can_be_opened_to_everyone_by_setting(
    client: Client, broker: str, settings: Any
) -> None:
    settings.HEALTHZ_DETAILS = True
    assert set(client.get("/healthz").json()["checks"]) == {"database", "redis", "celery"}


def test_favicon_is_the_consoles_icon_not_a_404(client: Client, db: Any) -> None:
    """Before: /favicon.ico was a 404 on every page."""
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("backoffice/favicon.svg")
    assert client.get("/admin/login/").content.decode().count("backoffice/favicon.svg") == 1
