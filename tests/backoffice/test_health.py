"""GET /healthz: 200 with every part's state, 503 naming the part that is down. Real Redis, real worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.test import Client

from backoffice.celery import app as celery_app


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


@pytest.mark.django_db(transaction=True)
def test_healthz_ok_when_database_redis_and_a_worker_answer(client: Client, worker: None) -> None:
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok" and body["down"] == []
    assert set(body["checks"]) == {"database", "redis", "celery"}
    assert "worker" in body["checks"]["celery"]["detail"]


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
    assert response.json()["checks"]["database"]["ok"] is True
