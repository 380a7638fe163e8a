"""The live monitor's socket (``/ws/monitor/``, PROTOCOL.md "Live monitor"): a supervisor's page receives
the shop's snapshot (``reports.monitor``) at connect and again whenever routing publishes an event to one of
the shop's agents or its queue (the same events the workbench gets), at most once per ``REFRESH_DELAY``
seconds. It sends nothing but pings; it never writes. Only an account with the report right opens it
(else 4403; no session 4401; a page of another shop than the session's current one 4409)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from backoffice.access import Right
from backoffice.models import StaffAccount
from reports import monitor
from routing import events
from routing.consumers import open_with_right, ping_only_answer, still_allowed
from routing.models import AgentState

REFRESH_DELAY = 1.0  # seconds: events within it make one snapshot


def _groups(staff: StaffAccount) -> list[str]:
    """The shop's queue group and every agent's group (the events that change the monitor), and the
    supervisor's own (``access_changed``: their sign-in or rights changed)."""
    agents = set(AgentState.objects.for_shop(staff.shop).values_list("staff_id", flat=True)) | {staff.pk}
    return [events.shop_agents_group(staff.shop_id), *(events.agent_group(a) for a in sorted(agents))]


def _snapshot(staff: StaffAccount) -> tuple[dict[str, Any], list[str]]:
    return monitor.snapshot(staff.shop), _groups(staff)


class MonitorConsumer(AsyncWebsocketConsumer):
    staff: StaffAccount
    joined: set[str]
    pending: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        staff = await open_with_right(self, Right.VIEW_REPORTS)
        if staff is None:
            return
        self.staff, self.joined = staff, set()
        await self.accept()
        await self.refresh()

    async def refresh(self) -> None:
        frame, groups = await database_sync_to_async(_snapshot)(self.staff)
        for group in set(groups) - self.joined:  # agents added since: their events count too
            await self.channel_layer.group_add(group, self.channel_name)
        self.joined |= set(groups)
        await self.send(text_data=json.dumps(frame, ensure_ascii=False))

    async def disconnect(self, code: int) -> None:
        if self.pending is not None:
            self.pending.cancel()
        for group in getattr(self, "joined", set()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Only pings (``{"type": "ping"}`` gets ``pong``); anything else is an error frame."""
        await self.send(text_data=ping_only_answer(text_data))

    async def chat_event(self, message: dict[str, Any]) -> None:
        """Any routing event of the shop: a snapshot soon (one for every burst)."""
        if self.pending is None or self.pending.done():
            self.pending = asyncio.ensure_future(self._later())

    async def access_changed(self, message: dict[str, Any]) -> None:
        """An account changed (``events.AccessChanged``): if it may be this socket's, check the session and
        the right again and close (4403) when they no longer allow it."""
        session_key = self.scope["session"].session_key
        allowed = await database_sync_to_async(still_allowed)(session_key, self.staff.pk, Right.VIEW_REPORTS)
        if allowed is None:
            await self.close(code=4403)
            return
        await self.chat_event(message)

    async def _later(self) -> None:
        await asyncio.sleep(REFRESH_DELAY)
        await self.refresh()
