"""The shop-operations page's socket (``/ws/ops/``, PROTOCOL.md "Operations alerts"): a supervisor's /ops/
page receives the shop's newest alerts with the account's unread count at connect, and the alerts newer
than those it has sent whenever the beat tasks record some (``backoffice.operations.alerts.OpsAlertsAdded``
on ``events.shop_ops_group``). It sends nothing but pings; it never writes. Only an account that may see
the operations page (``view_packagealert``) opens it (else 4403; no session 4401; a page of another shop
than the session's current one 4409). Here, on the routing side, because the staff sockets' session check
(``routing.consumers.session_account``) is routing's and backoffice may not import it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from backoffice import events
from backoffice.access import has_right
from backoffice.models import StaffAccount
from backoffice.operations import alerts
from backoffice.operations.views import VIEW
from routing.consumers import (
    CLOSE_SHOP_CHANGED,
    origin_allowed,
    ping_only_answer,
    session_account,
    session_user_id,
)


def _supervisor_of(scope: Mapping[str, Any]) -> tuple[StaffAccount | None, int]:
    """The session's account (``session_account``: 4401, 4409), 4403 without the operations page's right."""
    staff, code = session_account(scope)
    if staff is None:
        return None, code
    if not has_right(staff, VIEW):
        return None, 4403
    return staff, 0


def _allowed_still(session_key: str | None, staff_id: int) -> StaffAccount | None:
    """The socket's account as it is now, if its session still signs in its person, it is active and it may
    still see the operations page; else None."""
    staff = (
        StaffAccount.objects.select_related("shop", "user")
        .filter(pk=staff_id, is_active=True, user__is_active=True)
        .first()
    )
    if staff is None or session_user_id(session_key) != staff.user_id or not has_right(staff, VIEW):
        return None
    return staff


class OpsConsumer(AsyncWebsocketConsumer):
    staff: StaffAccount
    sent_up_to: int = 0  # the newest alert id this socket has sent
    groups_joined: tuple[str, ...] = ()

    async def connect(self) -> None:
        if not origin_allowed(self.scope):
            await self.close(code=4403)
            return
        staff, code = await database_sync_to_async(_supervisor_of)(self.scope)
        if staff is None:
            if code == CLOSE_SHOP_CHANGED:
                await self.accept()
            await self.close(code=code)
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
        staff = await database_sync_to_async(_allowed_still)(session_key, self.staff.pk)
        if staff is None:
            await self.close(code=4403)
            return
        self.staff = staff
