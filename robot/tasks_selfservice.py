"""Self-service's periodic work (issue 16), run by Celery beat every minute (``CELERY_BEAT_SCHEDULE``)."""

from celery import shared_task

from robot.selfservice import followup


@shared_task(name="robot.follow_up")
def follow_up() -> int:
    """Plan and send the due follow-up messages (care, return visit, coupons); idempotent, and safe to run
    twice at once or redelivered (``robot.selfservice.followup``)."""
    return followup.run()
