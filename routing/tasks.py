"""Periodic routing work, run by Celery beat every minute (see CELERY_BEAT_SCHEDULE in settings)."""

import logging

from celery import shared_task
from django.conf import settings

from routing import presence, services
from routing.services.seats import shop_ids_with_agents

logger = logging.getLogger(__name__)


@shared_task(name="routing.auto_end_idle")
def auto_end_idle() -> int:
    """Auto-end chats without a buyer message for 15 minutes; idempotent and safe to run twice at once."""
    return services.auto_end_idle()


@shared_task(name="routing.route_stranded")
def route_stranded() -> int:
    """Route arrivals that wait for routing since more than 30 s (their request died before routing), and
    serve queues waiting as long while seats are free (a process died before its drain)."""
    return services.route_stranded()


@shared_task(name="routing.expire_presence")
def expire_presence() -> int:
    """Agents whose every workbench tab closed more than the grace period ago go offline."""
    return presence.expire_presence()


@shared_task(name="routing.reconcile_loads")
def reconcile_loads() -> int:
    """Set every agent's load back to their active chats where it drifted (logged); the corrections made."""
    return sum(len(services.reconcile_loads(shop_id)) for shop_id in shop_ids_with_agents())


def check_presence_later() -> None:
    """Schedule ``expire_presence`` for just after the grace period (at a workbench disconnect); when the
    broker is unavailable the beat backstop runs it within a minute anyway."""
    try:
        expire_presence.apply_async(countdown=settings.PRESENCE_GRACE_SECONDS + 1)
    except Exception:
        logger.warning("could not schedule the presence check", exc_info=True)
