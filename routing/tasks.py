"""Periodic routing work, run by Celery beat every minute (see CELERY_BEAT_SCHEDULE in settings)."""

from celery import shared_task

from routing import presence, services


@shared_task(name="routing.auto_end_idle")
def auto_end_idle() -> int:
    """Auto-end chats without a buyer message for 15 minutes; idempotent and safe to run twice at once."""
    return services.auto_end_idle()


@shared_task(name="routing.route_stranded")
def route_stranded() -> int:
    """Route arrivals that wait for routing since more than 30 s (their request died before routing), and
    serve queues waiting as long while seats are free (a limit raised where no drain followed)."""
    return services.route_stranded()


@shared_task(name="routing.expire_presence")
def expire_presence() -> int:
    """Agents whose every workbench tab closed more than the grace period ago go offline."""
    return presence.expire_presence()
