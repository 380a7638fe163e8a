"""Periodic robot work, run by Celery beat (see CELERY_BEAT_SCHEDULE in settings)."""

from celery import shared_task

from robot import recommend


@shared_task(name="robot.recommend_answers")
def recommend_answers() -> int:
    """Recompute the recommended replies of the shops that are due (hourly each); idempotent and safe to
    run twice at once (``robot.recommend.run_due``). The shops computed."""
    return recommend.run_due()
