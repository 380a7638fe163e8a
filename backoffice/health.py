"""Health of the parts the console needs: the database, Redis and at least one Celery worker."""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.conf import settings
from django.db import connection

from backoffice.celery import app as celery_app


def redis_client() -> redis.Redis[bytes]:
    if settings.REDIS_URL:
        return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    return redis.Redis(
        unix_socket_path=str(settings.REDIS_SOCKET), socket_timeout=2, socket_connect_timeout=2
    )


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def check_redis() -> str:
    info: Any = redis_client().info("server")
    return f"redis {info.get('redis_version', '?')}"


def check_celery() -> str:
    # A fresh connection each time: the check must not depend on (or poison) the app's pooled connections.
    with celery_app.connection_for_write() as conn:
        replies = celery_app.control.ping(timeout=1.0, connection=conn)
    if not replies:
        raise RuntimeError("no Celery worker answered the ping")
    return f"{len(replies)} worker(s)"


CHECKS = {"database": check_database, "redis": check_redis, "celery": check_celery}
logger = logging.getLogger(__name__)


def health(*, details: bool) -> tuple[bool, dict[str, Any]]:
    """Run every check: the overall status and the parts that are down, and with ``details`` each part's
    state (versions, worker count, a failure's error). A failure is logged with its error either way."""
    parts: dict[str, Any] = {}
    for name, check in CHECKS.items():
        try:
            parts[name] = {"ok": True, "detail": check()}
        except Exception as exc:  # any failure of a dependency means "down", with the reason
            parts[name] = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
            logger.warning("health check %s is down: %s", name, parts[name]["detail"])
    ok = all(p["ok"] for p in parts.values())
    body: dict[str, Any] = {
        "status": "ok" if ok else "down",
        "down": [n for n, p in parts.items() if not p["ok"]],
    }
    if details:
        body["checks"] = parts
    return ok, body
