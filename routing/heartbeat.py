"""The presence heartbeat of one server process (an event loop): while the loop holds workbench tabs, it
renews its presence leases every PRESENCE_HEARTBEAT_SECONDS (``presence.renew``), so that the leases of a
process that died stop counting after PRESENCE_LEASE_SECONDS (routing/presence.py). The task stops when the
loop's last agent tab closes, so a loop without agents (and a test's loop) keeps nothing running."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import Counter

from channels.db import database_sync_to_async
from django.conf import settings

from routing import events, presence

logger = logging.getLogger(__name__)


class Heartbeat:
    """The agent tabs this loop holds (staff id -> tabs) and the task renewing their leases."""

    def __init__(self) -> None:
        self.tabs: Counter[int] = Counter()
        self.task: asyncio.Task[None] | None = None

    def opened(self, staff_id: int) -> None:
        self.tabs[staff_id] += 1
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._beat(events.loop_origin()))

    def closed(self, staff_id: int) -> None:
        self.tabs[staff_id] -= 1
        if self.tabs[staff_id] <= 0:
            del self.tabs[staff_id]
        if not self.tabs and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _beat(self, process: str) -> None:
        while True:
            await asyncio.sleep(settings.PRESENCE_HEARTBEAT_SECONDS)
            try:
                await database_sync_to_async(presence.renew)(process, dict(self.tabs))
            except Exception:  # the database is away: the next beat tries again (the lease has slack)
                logger.warning("could not renew the presence leases of %s", process, exc_info=True)


_heartbeats: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Heartbeat] = weakref.WeakKeyDictionary()


def heartbeat() -> Heartbeat:
    """This event loop's heartbeat."""
    loop = asyncio.get_running_loop()
    if loop not in _heartbeats:
        _heartbeats[loop] = Heartbeat()
    return _heartbeats[loop]
