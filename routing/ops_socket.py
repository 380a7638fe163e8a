"""The shop-operations page's socket (``/ws/ops/``, PROTOCOL.md "Operations alerts"): a supervisor's /ops/
page receives the shop's newest alerts with the account's unread count at connect, and the alerts newer
than those it has sent whenever the beat tasks record some (``backoffice.operations.alerts.OpsAlertsAdded``
on ``events.shop_ops_group``). It sends nothing but pings; it never writes. Only an account that may see
the operations page (``view_packagealert``) opens it (else 4403; no session 4401; a page of another shop
than the session's current one 4409). Here, on the routing side, because the staff sockets' session check
(``routing.consumers.open_with_right``) is routing's and backoffice may not import it."""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from backoffice import events
from backoffice.models import StaffAccount
from backoffice.operations import alerts
from backoffice.operations.views import VIEW
from routing.consumers import open_with_right, ping_only_answer, still_allowed


class OpsConsumer(AsyncWebsocketConsumer):
    staff: StaffAccount
    sent_up_to: int = 0  # the newest alert id this socket has sent
    groups_joined: tuple[str, ...] = ()

    async def connect(self) -> None:
        staff = await open_with_right(self, VIEW)
        if staff is None:
            return
        self.staff = staff
        # The shop's operations pages, and the account's own group (``access_changed``: sign-in or rights).
        self.groups_joined = (events.shop_ops_group(staff.shop_id), events.agent_group(staff.pk))
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.refresh()

    async def refresh(self) -> None:
        """Send what is newer than what this socket has sent (the newest at connect), with the count."""
        frame = await database_sync_to_async(alerts.frame)(self.staff, after=self.sent_up_to)
        if self.sent_up_to and not frame["items"]:
            return
        if frame["items"]:
            self.sent_up_to = max(self.sent_up_to, frame["items"][0]["id"])
        await self.send(text_data=json.dumps(frame, ensure_ascii=False))

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Only pings (``{"type": "ping"}`` gets ``pong``); anything else is an error frame."""
        await self.send(text_data=ping_only_answer(text_data))

    async def ops_alerts(self, message: dict[str, Any]) -> None:
        """New alerts of the shop (``OpsAlertsAdded``): the ones this socket has not sent yet."""
        await self.refresh()

    async def chat_event(self, message: dict[str, Any]) -> None:
        """Other events of the account's group (its workbench's) are not this page's."""

    async def access_changed(self, message: dict[str, Any]) -> None:
        """The account changed (``events.AccessChanged``): close (4403) when it may no longer see the page."""
        session_key = self.scope["session"].session_key
        staff = await database_sync_to_async(still_allowed)(session_key, self.staff.pk, VIEW)
        if staff is None:
            await self.close(code=4403)
            return
        self.staff = staff
