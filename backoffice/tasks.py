"""Shop-operations beat tasks (CELERY_BEAT_SCHEDULE in settings): every minute, each idempotent, bulk, on
the database clock, claiming rows with SKIP LOCKED and conditional updates (``backoffice/operations/``)."""

from __future__ import annotations

from celery import shared_task

from backoffice.operations import packages, service_requests, shipping


@shared_task(name="backoffice.ops_late_shipments")
def late_shipments() -> int:
    return shipping.flag_late_shipments()


@shared_task(name="backoffice.ops_package_alerts")
def package_alerts() -> int:
    return packages.raise_package_alerts()


@shared_task(name="backoffice.ops_service_request_warnings")
def service_request_warnings() -> int:
    return service_requests.warn_service_requests()


@shared_task(name="backoffice.ops_service_request_settlement")
def service_request_settlement() -> int:
    return service_requests.settle_overdue_requests()
