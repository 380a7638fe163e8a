"""Periodic report work, run by Celery beat (CELERY_BEAT_SCHEDULE in settings)."""

from celery import shared_task

from reports import rollups


@shared_task(name="reports.roll_up")
def roll_up() -> int:
    """Bring the daily rollups up to date (``reports.rollups.roll_up``); the days computed."""
    return rollups.roll_up()
